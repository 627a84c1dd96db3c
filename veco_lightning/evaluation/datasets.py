"""Aligned sentence pairs for cross-lingual evaluation: Tatoeba retrieval, word alignment, synonym retrieval."""

from __future__ import annotations

import logging
import os
from functools import partial
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset
from transformers import PreTrainedTokenizerBase

from veco_lightning.data.base import TokenizedDataModule
from veco_lightning.data.collators import pad_sequences
from veco_lightning.data.dictionary import BilingualDictionary, dictionary_for
from veco_lightning.data.languages import to_iso1
from veco_lightning.data.mining import char_spans_to_token_spans, default_stop_words, mine_pair
from veco_lightning.data.readers import expand_globs, resolve_path
from veco_lightning.data.words import segment
from veco_lightning.evaluation.alignment import read_pharaoh
from veco_lightning.evaluation.mining import BuccSplit, read_bucc

log = logging.getLogger(__name__)


@dataclass
class TatoebaSource:
    """The Tatoeba retrieval sets of LASER / XTREME: ``tatoeba.xxx-eng.xxx`` and ``tatoeba.xxx-eng.eng``.

    Args:
        root: the folder holding the files.
        languages: ISO 639-3 codes to evaluate (default: every language found).
    """

    root: str
    languages: list[str] | None = None


@dataclass
class PairSource:
    """Aligned sentence pairs from a TSV file (``src<TAB>tgt``) or two line-aligned files.

    Args:
        src_lang: language of the queries (``de``; ISO 639-1 or 639-3).
        tgt_lang: language of the retrieved side.
        path: TSV file; or give ``src`` and ``tgt``.
        src: line-aligned source file.
        tgt: line-aligned target file.
        alignments: gold word alignments in Pharaoh format (``i-j`` sure, ``i?j`` possible), one line per pair,
            indices over the whitespace-separated words of each sentence (which are then the words evaluated).
        lines: ``[first, last)`` line range to use (e.g. the held-out tail of a training corpus).
    """

    src_lang: str
    tgt_lang: str = "en"
    path: str | None = None
    src: str | None = None
    tgt: str | None = None
    alignments: str | None = None
    lines: list[int | None] = field(default_factory=lambda: [0, None])


@dataclass
class BuccSource:
    """Bitext mining tasks in the BUCC 2018 layout (``xx-en.{split}.{xx,en,gold}``, lines ``id<TAB>sentence``), or
    built from any parallel set with ``veco-make-bucc``. The threshold is chosen on ``dev_split`` and F1 / precision /
    recall are reported on ``test_split``.

    Args:
        root: folder holding the files.
        pairs: language pairs, e.g. ``[de-en, fr-en]``.
        dev_split: split used to choose the margin threshold (BUCC's ``sample``, or ``dev``).
        test_split: split reported (BUCC's ``training`` has public gold; or ``test``).
    """

    root: str
    pairs: list[str]
    dev_split: str = "dev"
    test_split: str = "test"


def _read_lines(path: str) -> list[str]:
    with open(resolve_path(path), encoding="utf-8") as handle:
        return [line.rstrip("\r\n") for line in handle]


def read_pairs(source: PairSource) -> tuple[list[str], list[str]]:
    """The ``(src, tgt)`` sentences of a pair source; mismatched lengths and malformed TSV lines are errors."""
    if source.path is not None:
        src, tgt = [], []
        for line_no, line in enumerate(_read_lines(source.path), start=1):
            parts = line.split("\t")
            if len(parts) != 2:
                raise ValueError(f"{source.path}:{line_no}: expected 'source<TAB>target', found {len(parts)} field(s)")
            src.append(parts[0])
            tgt.append(parts[1])
    elif source.src is not None and source.tgt is not None:
        src, tgt = _read_lines(source.src), _read_lines(source.tgt)
        if len(src) != len(tgt):
            raise ValueError(f"{source.src} has {len(src)} lines but {source.tgt} has {len(tgt)}: they must be line-aligned")
    else:
        raise ValueError("A pair source needs `path` (TSV) or both `src` and `tgt`")
    first, last = source.lines
    return src[first:last], tgt[first:last]


def tatoeba_sources(source: TatoebaSource) -> dict[str, PairSource]:
    """One pair source per language of a Tatoeba folder, named ``xxx-eng``."""
    found = sorted(
        os.path.basename(p).split(".")[1].split("-")[0]
        for p in expand_globs(os.path.join(source.root, "tatoeba.*-eng.eng"), " (Tatoeba layout)")
    )
    languages = source.languages or found
    missing = sorted(set(languages) - set(found))
    if missing:
        raise FileNotFoundError(f"No Tatoeba files for {missing} in {source.root} (found: {found})")
    prefix = os.path.join(source.root, "tatoeba.{0}-eng.{1}")
    return {
        f"{lang}-eng": PairSource(src_lang=lang, tgt_lang="eng", src=prefix.format(lang, lang), tgt=prefix.format(lang, "eng"))
        for lang in languages
    }


class BitextEvalSet(Dataset):
    """Tokenized pairs with the token -> word map of each side and the dictionary word pairs found in them.

    Words are dictionary-aware segments (``words.segment``) or, where gold alignments are given, the sentence's
    whitespace tokens. A sub-word token belongs to the first word it overlaps. Only single-word synonym pairs are
    kept for synonym retrieval (a multi-word dictionary entry has no single word to retrieve).
    """

    def __init__(
        self,
        name: str,
        src_texts: list[str],
        tgt_texts: list[str],
        src_lang: str,
        tgt_lang: str,
        tokenizer: PreTrainedTokenizerBase,
        max_length: int,
        dictionary: BilingualDictionary | None = None,
        gold: list | None = None,
    ) -> None:
        self.name = name
        self.src_lang, self.tgt_lang = to_iso1(src_lang), to_iso1(tgt_lang)
        self.src_texts, self.tgt_texts = src_texts, tgt_texts
        if gold is not None and len(gold) != len(self.src_texts):
            raise ValueError(f"{name}: {len(gold)} gold alignment lines for {len(self.src_texts)} sentence pairs")
        pretokenized = gold is not None
        src_words = [self._words(t, self.src_lang, dictionary, "src", pretokenized) for t in self.src_texts]
        tgt_words = [self._words(t, self.tgt_lang, dictionary, "tgt", pretokenized) for t in self.tgt_texts]
        src_enc = self._encode(tokenizer, self.src_texts, src_words, max_length)
        tgt_enc = self._encode(tokenizer, self.tgt_texts, tgt_words, max_length)
        self.items: list[dict[str, Any]] = []
        multiword = 0
        for i, (s, t) in enumerate(zip(src_enc, tgt_enc)):
            item = {"index": i, "src": s, "tgt": t, "synonyms": [], "gold": gold[i] if gold else None}
            if dictionary is not None:
                pairs, skipped = self._synonyms(i, src_words[i], tgt_words[i], dictionary)
                item["synonyms"], multiword = pairs, multiword + skipped
            self.items.append(item)
        self.words = (src_words, tgt_words)
        # Length-sorted so that batches carry little padding; pair indices keep the identity.
        self.order = sorted(range(len(self.items)), key=lambda i: -max(len(src_enc[i]["input_ids"]), len(tgt_enc[i]["input_ids"])))
        if dictionary is not None:
            found = sum(len(item["synonyms"]) for item in self.items)
            log.info("%s: %d pairs, %d dictionary word pairs (%d multi-word matches skipped)", name, len(self), found, multiword)

    @classmethod
    def from_source(cls, name: str, source: PairSource, tokenizer: PreTrainedTokenizerBase, max_length: int,
                    dictionary: BilingualDictionary | None = None) -> BitextEvalSet:
        src, tgt = read_pairs(source)
        gold = read_pharaoh(resolve_path(source.alignments)) if source.alignments else None
        return cls(name, src, tgt, source.src_lang, source.tgt_lang, tokenizer, max_length, dictionary, gold)

    def _words(self, text: str, lang: str, dictionary: BilingualDictionary | None, side: str, pretokenized: bool) -> list[tuple[int, int]]:
        if pretokenized:
            spans, start = [], 0
            for word in text.split():
                start = text.index(word, start)
                spans.append((start, start + len(word)))
                start += len(word)
            return spans
        lexicon = None
        if dictionary is not None:
            lexicon = dictionary.src_phrases if side == "src" else dictionary.tgt_phrases
        return [(w.start, w.end) for w in segment(text, lang, lexicon)]

    @staticmethod
    def _encode(tokenizer, texts: list[str], words: list[list[tuple[int, int]]], max_length: int) -> list[dict]:
        encoded = tokenizer(texts, truncation=True, max_length=max_length, return_offsets_mapping=True)
        out = []
        for ids, offsets, spans in zip(encoded["input_ids"], encoded["offset_mapping"], words):
            word_index = [-1] * len(ids)
            for w, token_span in enumerate(char_spans_to_token_spans(spans, offsets)):
                if token_span is None:
                    continue
                for position in range(*token_span):
                    if word_index[position] == -1:
                        word_index[position] = w
            out.append({"input_ids": ids, "word_index": word_index, "num_words": len(spans)})
        return out

    def _synonyms(self, i: int, src_words, tgt_words, dictionary) -> tuple[list[tuple[int, int]], int]:
        src_at = {span: w for w, span in enumerate(src_words)}
        tgt_at = {span: w for w, span in enumerate(tgt_words)}
        pairs, skipped = [], 0
        for pair in mine_pair(self.src_texts[i], self.tgt_texts[i], dictionary, self.src_lang, self.tgt_lang,
                              stop_words={lang: default_stop_words(lang) for lang in (self.src_lang, self.tgt_lang)}):
            a, b = src_at.get(tuple(pair.src_span)), tgt_at.get(tuple(pair.tgt_span))
            if a is None or b is None:
                skipped += 1
            else:
                pairs.append((a, b))
        return pairs, skipped

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, position: int) -> dict[str, Any]:
        return self.items[self.order[position]]


class MiningEvalSet(Dataset):
    """The sentences of a BUCC-style task (dev and test splits, both sides), tokenized and length-sorted."""

    def __init__(self, name: str, source: BuccSource, pair: str, tokenizer: PreTrainedTokenizerBase, max_length: int) -> None:
        self.name = name
        self.splits: list[BuccSplit] = [
            read_bucc(os.path.join(resolve_path(source.root), f"{pair}.{split}"))
            for split in (source.dev_split, source.test_split)
        ]
        self.items = []
        for split_id, split in enumerate(self.splits):
            for side, sentences in enumerate((split.src_sents, split.trg_sents)):
                ids = tokenizer(sentences, truncation=True, max_length=max_length)["input_ids"]
                self.items.extend({"key": (split_id, side), "index": i, "input_ids": x} for i, x in enumerate(ids))
        self.items.sort(key=lambda item: -len(item["input_ids"]))

    def gold_indices(self, split_id: int) -> set[tuple[int, int]]:
        """Gold pairs of a split as ``(source index, target index)``."""
        split = self.splits[split_id]
        src_at = {sid: i for i, sid in enumerate(split.src_ids)}
        trg_at = {tid: j for j, tid in enumerate(split.trg_ids)}
        return {(src_at[s], trg_at[t]) for s, t in split.gold}

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, position: int) -> dict[str, Any]:
        return self.items[position]


def collate_sentences(items: list[dict[str, Any]], pad_id: int, task_id: int) -> dict[str, dict[str, torch.Tensor]]:
    ids = pad_sequences([item["input_ids"] for item in items], pad_id)
    key = torch.tensor([(task_id, *item["key"]) for item in items])  # (B, 3): task, split, side
    return {"mining": {"input_ids": ids, "attention_mask": (ids != pad_id).long(), "key": key,
                       "index": torch.tensor([item["index"] for item in items])}}


def collate_bitext(items: list[dict[str, Any]], pad_id: int, set_id: int) -> dict[str, dict[str, Any]]:
    """Pad a batch of pairs: ids, masks and token -> word maps per side, synonym pairs ``(B, P, 2)`` (-1 padded)."""
    batch: dict[str, Any] = {
        "set_id": torch.full((len(items),), set_id, dtype=torch.long),
        "index": torch.tensor([item["index"] for item in items]),
    }
    for side in ("src", "tgt"):
        ids = pad_sequences([item[side]["input_ids"] for item in items], pad_id)
        word_index = pad_sequences([item[side]["word_index"] for item in items], -1)
        batch[side] = {"input_ids": ids, "attention_mask": (ids != pad_id).long(), "word_index": word_index,
                       "num_words": torch.tensor([item[side]["num_words"] for item in items])}
    most = max(1, max(len(item["synonyms"]) for item in items))
    synonyms = torch.full((len(items), most, 2), -1, dtype=torch.long)
    for row, item in enumerate(items):
        if item["synonyms"]:
            synonyms[row, : len(item["synonyms"])] = torch.tensor(item["synonyms"])
    batch["synonyms"] = synonyms
    batch["gold"] = [item["gold"] for item in items] if items[0]["gold"] is not None else None
    return {"bitext": batch}


class EvaluationDataModule(TokenizedDataModule):
    """Aligned sentence pairs that the validation and test loops score: retrieval accuracy for every set, word
    alignment error rate where gold alignments are given, synonym retrieval where a dictionary covers the pair, and
    bitext-mining F1 on BUCC-style tasks.

    Args:
        tatoeba: Tatoeba folder and languages.
        bucc: BUCC-style mining tasks (scored in ``test`` only: mining needs the whole pools).
        pairs: named pair sources (TSV or line-aligned files, optional Pharaoh gold).
        dictionaries: ``"en-de"`` -> MUSE dictionary files (either direction is used), for synonym retrieval.
        tokenizer: set by the composite datamodule through ``connect``.
        max_length: longest tokenized sentence (longer ones are truncated).
        batch_size: pairs per batch.
        val_max_pairs: pairs per set scored in validation during training (all are scored in ``test``);
            0 turns validation scoring off.
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
        return [s.name for s in self.sets]

    def _dictionary(self, src_lang: str, tgt_lang: str) -> BilingualDictionary | None:
        return dictionary_for(self.dictionaries, src_lang, tgt_lang)

    def setup(self, stage: str | None = None) -> None:
        if self.sets:
            return
        tokenizer = self.tokenizer
        self.pad_id = tokenizer.pad_token_id
        sources = {**(tatoeba_sources(self.tatoeba) if self.tatoeba else {}), **self.pairs}
        for name, source in sources.items():
            dictionary = self._dictionary(source.src_lang, source.tgt_lang)
            self.sets.append(BitextEvalSet.from_source(name, source, tokenizer, self.max_length, dictionary))
        for name, (src_lang, tgt_lang, src, tgt) in self.extra_pairs.items():
            dictionary = self._dictionary(src_lang, tgt_lang)
            self.sets.append(BitextEvalSet(name, src, tgt, src_lang, tgt_lang, tokenizer, self.max_length, dictionary))
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
