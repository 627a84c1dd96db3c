"""Evaluation datasets: aligned pairs with their word units (retrieval, synonym retrieval, word alignment) and the
sentences of bitext-mining tasks, tokenized, with their collate functions."""

from __future__ import annotations

import logging
import os
from typing import Any

import torch
from torch.utils.data import Dataset
from transformers import PreTrainedTokenizerBase

from veco_lightning.data.collators import pad_pairs, pad_sequences
from veco_lightning.data.readers import BadLinePolicy, read_pairs_with_index
from veco_lightning.data.tokenizer import boundary_ids, encode_with_offsets
from veco_lightning.data.units import mine_units, whitespace_units, word_units
from veco_lightning.evaluation.alignment import links_past_words, read_pharaoh
from veco_lightning.evaluation.bitext_mining import BuccSplit, bucc_files, read_bucc
from veco_lightning.evaluation.sources import BuccSource, PairSource
from veco_lightning.lexicon.badinput import MAX_LINE_CHARS, BadInputError, check_file
from veco_lightning.lexicon.dictionary import BilingualDictionary
from veco_lightning.lexicon.languages import to_iso1
from veco_lightning.lexicon.stopwords import default_stop_words
from veco_lightning.lexicon.synonyms import MiningStats, SynonymMiner
from veco_lightning.paths import resolve_path

log = logging.getLogger(__name__)


def prompt_tokens(tokenizer: PreTrainedTokenizerBase, prompt: str | None, max_length: int) -> int:
    """Tokens ``prompt`` takes before a sentence; an error when it leaves no room for the sentence in
    ``max_length`` (``<s>`` and ``</s>`` included)."""
    if not prompt:
        return 0
    count = len(encode_with_offsets(tokenizer, [prompt], max_length)[0][0])
    if count + 2 >= max_length:
        raise ValueError(f"data.evaluation.prompt {prompt!r} takes {count} tokens, which leaves no room for the "
                         f"sentence in data.evaluation.max_length={max_length}: raise max_length or shorten the prompt")
    return count


def encode_after_prompt(tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int,
                        prompt: str | None) -> list[tuple[list[int], list[int], list[tuple[int, int]]]]:
    """``(prompt ids, sentence ids, sentence offsets)`` of each text, tokenized after ``prompt`` as one string (as
    sentence-transformers puts a prompt before its input), cut to ``max_length`` tokens in all. The sentence's
    offsets count from its own first character; a token that begins in the prompt and ends in the sentence is the
    sentence's."""
    if not prompt:
        return [([], ids, offsets) for ids, offsets in encode_with_offsets(tokenizer, texts, max_length)]
    start = len(prompt)
    out = []
    for ids, offsets in encode_with_offsets(tokenizer, [prompt + text for text in texts], max_length):
        k = 0
        while k < len(ids) and offsets[k][1] <= start:
            k += 1
        out.append((ids[:k], ids[k:], [(max(a - start, 0), b - start) for a, b in offsets[k:]]))
    return out


class BitextEvalSet(Dataset):
    """Tokenized pairs with the token -> unit map of each side and the dictionary synonym pairs between them.

    Units are those of training (:mod:`veco_lightning.data.units`): with a dictionary, every mined synonym phrase and
    every other word, exactly as :class:`~veco_lightning.data.synonym.SynonymAlignedDataModule` stores them; without
    one, the words of ``lexicon.words.segment``; where gold alignments are given, the sentence's whitespace tokens (the
    words the gold indexes), with synonym pairs kept where a mined pair is exactly two such tokens.

    Args:
        name: the set's name in reports.
        src_texts, tgt_texts: aligned sentences.
        src_lang, tgt_lang: their languages.
        tokenizer: the encoder's tokenizer.
        max_length: longest tokenized sentence, ``<s>`` and ``</s>`` included (longer ones are truncated).
        dictionary: for synonym retrieval.
        gold: Pharaoh ``(sure, possible)`` alignments, one per pair.
        stop_words: mine as training does by default (pairs of stop words only are dropped).
        max_word_chars: longest dictionary match when segmenting a side written without spaces.
        prompt: text put before every sentence of both sides (``"query: "`` for the E5 models); its tokens are
            encoded with the sentence but belong to no word.
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
        stop_words: bool = True,
        max_word_chars: int = 8,
        prompt: str | None = None,
    ) -> None:
        self.name = name
        self.src_lang, self.tgt_lang = to_iso1(src_lang), to_iso1(tgt_lang)
        self.src_texts, self.tgt_texts = src_texts, tgt_texts
        if gold is not None and len(gold) != len(self.src_texts):
            raise ValueError(f"{name}: {len(gold)} gold alignment lines for {len(self.src_texts)} sentence pairs")
        miner = None
        if dictionary is not None:
            stops = {lang: default_stop_words(lang) for lang in (self.src_lang, self.tgt_lang)} if stop_words else None
            miner = SynonymMiner(dictionary, self.src_lang, self.tgt_lang, stops, None, max_word_chars)
        prompt_tokens(tokenizer, prompt, max_length)
        src_enc = encode_after_prompt(tokenizer, src_texts, max_length - 2, prompt)
        tgt_enc = encode_after_prompt(tokenizer, tgt_texts, max_length - 2, prompt)
        bos, eos = boundary_ids(tokenizer)
        self.items: list[dict[str, Any]] = []
        self.words: tuple[list, list] = ([], [])  # unit spans per pair and side (heatmap labels)
        self.mined = 0  # synonym pairs the dictionary finds; those whose units both kept a token are scored
        for i, ((src_prompt, src_ids, src_offsets), (tgt_prompt, tgt_ids, tgt_offsets)) in enumerate(
                zip(src_enc, tgt_enc)):
            (src_index, src_spans), (tgt_index, tgt_spans), synonyms = self._units(
                i, src_offsets, tgt_offsets, miner, gold is not None)
            self.words[0].append(src_spans)
            self.words[1].append(tgt_spans)
            self.items.append({
                "index": i,
                "src": {"input_ids": [bos, *src_prompt, *src_ids, eos],
                        "word_index": [-1] * (1 + len(src_prompt)) + [*src_index, -1], "num_words": len(src_spans)},
                "tgt": {"input_ids": [bos, *tgt_prompt, *tgt_ids, eos],
                        "word_index": [-1] * (1 + len(tgt_prompt)) + [*tgt_index, -1], "num_words": len(tgt_spans)},
                "synonyms": synonyms,
                "gold": gold[i] if gold else None,
            })
        lost = sum(max(item[side]["word_index"], default=-1) + 1 < item[side]["num_words"]
                   for item in self.items for side in ("src", "tgt"))
        if lost:
            log.warning("%s: %d sentence(s) longer than max_length=%d tokens lose their last words (those words are "
                        "not scored); raise max_length to score them", name, lost, max_length)
        # Length-sorted so that batches carry little padding; pair indices keep the identity.
        self.order = sorted(range(len(self.items)), key=lambda i: -max(len(self.items[i]["src"]["input_ids"]),
                                                                       len(self.items[i]["tgt"]["input_ids"])))
        if dictionary is not None:
            scored = sum(len(item["synonyms"]) // 2 for item in self.items)
            log.info("%s: %d sentence pairs, %d dictionary synonym pairs scored of %d found (the others lost a unit's "
                     "tokens to truncation or to a token shared with the previous word, and are not trained on "
                     "either)", name, len(self), scored, self.mined)

    def _units(self, i: int, src_offsets, tgt_offsets, miner: SynonymMiner | None, pretokenized: bool):
        """``((src token units, src spans), (tgt token units, tgt spans), flat synonym pairs)`` of pair ``i``."""
        src_text, tgt_text = self.src_texts[i], self.tgt_texts[i]
        if pretokenized:  # the gold's words; synonym pairs only where a mined pair is exactly two of them
            src, tgt = whitespace_units(src_text, src_offsets), whitespace_units(tgt_text, tgt_offsets)
            synonyms: list[int] = []
            if miner is not None:
                src_at = {span: w for w, span in enumerate(src[1])}
                tgt_at = {span: w for w, span in enumerate(tgt[1])}
                present_src, present_tgt = set(src[0]), set(tgt[0])
                mined = miner(src_text, tgt_text)[0]
                self.mined += len(mined)
                for pair in mined:
                    a, b = src_at.get(tuple(pair.src_span)), tgt_at.get(tuple(pair.tgt_span))
                    if a in present_src and b in present_tgt:
                        synonyms += [a, b]
            return src, tgt, synonyms
        if miner is None:
            return word_units(src_text, self.src_lang, src_offsets), word_units(tgt_text, self.tgt_lang,
                                                                                 tgt_offsets), []
        units = mine_units(miner, src_text, tgt_text, src_offsets, tgt_offsets)
        self.mined += units.counts[MiningStats.COUNTS.index("synonym_pairs")]
        return (units.src_index, units.src_spans), (units.tgt_index, units.tgt_spans), units.synonyms

    @classmethod
    def from_source(cls, name: str, source: PairSource, tokenizer: PreTrainedTokenizerBase, max_length: int,
                    dictionary: BilingualDictionary | None = None, on_bad_line: BadLinePolicy = "error",
                    max_line_chars: int = MAX_LINE_CHARS, extra_languages: list[str] | tuple[str, ...] = (),
                    **options: Any) -> BitextEvalSet:
        """A set read from its source; pairs skipped as bad (``on_bad_line: skip``) take their gold alignment line
        with them, so that the remaining gold still belongs to its pair."""
        pairs = read_pairs_with_index(source, name, on_bad_line, max_line_chars)
        gold = None
        if source.alignments:
            path = resolve_path(source.alignments)
            check_file(path, max_line_chars)
            gold = read_pharaoh(path, one_based=source.alignments_one_based)
            if len(gold) != pairs.size:
                raise BadInputError(f"{path}: {len(gold)} gold alignment line(s) for the {pairs.size} sentence pairs "
                                    f"of evaluation set {name!r}: give one line per pair (an empty line for none)")
            for src_text, tgt_text, k in zip(pairs.src, pairs.tgt, pairs.index):
                n, m = len(src_text.split()), len(tgt_text.split())
                past = links_past_words(gold[k], n, m)
                if past:
                    base = int(source.alignments_one_based)
                    i, j = past[0][0] + base, past[0][1] + base
                    hint = ("if the file counts from 1 (as the .talp gold sets of lilt/alignment-scripts and "
                            "awesome-align's examples do), set alignments_one_based: true; otherwise " if not base
                            else "")
                    raise BadInputError(f"{path}:{k + 1}: link {i}-{j} (counted from {base}) points past the {n} "
                                        f"source and {m} target words of pair {k + 1} of evaluation set {name!r}: "
                                        f"{hint}the gold does not index these sentences' words (split on white "
                                        "space: give the sentences tokenized as the gold was, in the gold's order)")
            gold = [gold[k] for k in pairs.index]
        src_lang, tgt_lang = source.languages(name, extra_languages)
        return cls(name, pairs.src, pairs.tgt, src_lang, tgt_lang, tokenizer, max_length, dictionary, gold, **options)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, position: int) -> dict[str, Any]:
        return self.items[self.order[position]]


class MiningEvalSet(Dataset):
    """The sentences of a BUCC-style task (dev and test splits, both sides), tokenized and length-sorted."""

    def __init__(self, name: str, source: BuccSource, pair: str, tokenizer: PreTrainedTokenizerBase,
                 max_length: int, max_line_chars: int = MAX_LINE_CHARS, prompt: str | None = None) -> None:
        self.name = name
        self.pair = pair
        self.splits: list[BuccSplit] = []
        self.shared = source.dev_split == source.test_split  # one split for both: its sentences are encoded once
        if self.shared:
            log.warning("%s: dev_split and test_split are both %r: the threshold is tuned on the pairs it is scored "
                        "on, so F1 is an upper bound, not XTREME's figure (which tunes on BUCC's sample split and "
                        "reports another)", name, source.test_split)
        for split in (source.dev_split,) if self.shared else (source.dev_split, source.test_split):
            root = resolve_path(source.root)
            files = bucc_files(root, pair, split)
            for path in filter(None, files):
                # No line of a BUCC task can be skipped: gold pairs name sentences by id.
                if not check_file(path, max_line_chars):
                    raise BadInputError(f"{path}: empty; a BUCC task file needs its sentences (or gold pairs)")
            task = read_bucc(os.path.join(root, f"{pair}.{split}"))
            if split == source.dev_split and not task.gold:
                raise BadInputError(f"{os.path.join(root, f'{pair}.{split}')}.gold: not found, and the BUCC threshold "
                                    f"is tuned on the gold pairs of dev_split {split!r}; give that split's gold file, "
                                    "or set dev_split to a split that has one (BUCC 2018: 'sample')")
            self.splits.append(task)
            sides = ((files[0], task.src_ids, task.src_sents), (files[1], task.trg_ids, task.trg_sents))
            for path, ids, texts in sides:
                empty = [sid for sid, text in zip(ids, texts) if not text.strip()]
                if empty:
                    raise BadInputError(f"{path}: sentence id {empty[0]!r} has an empty sentence; give every id a "
                                        "sentence, or remove the id (and its gold pairs)")
        self.items = []
        prompt_tokens(tokenizer, prompt, max_length)
        for split_id, split in enumerate(self.splits):
            for side, sentences in enumerate((split.src_sents, split.trg_sents)):
                texts = [(prompt or "") + text for text in sentences]  # the prompt, if any, before each sentence
                ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
                self.items.extend({"key": (split_id, side), "index": i, "input_ids": x} for i, x in enumerate(ids))
        self.items.sort(key=lambda item: -len(item["input_ids"]))
        if self.shared:
            self.splits.append(self.splits[0])  # the test split is the dev split: its embeddings are split 0's

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
    """Pad a batch of mining sentences, tagged ``(task, split, side)`` and by index."""
    ids = pad_sequences([item["input_ids"] for item in items], pad_id)
    key = torch.tensor([(task_id, *item["key"]) for item in items])  # (B, 3): task, split, side
    return {"mining": {"input_ids": ids, "attention_mask": (ids != pad_id).long(), "key": key,
                       "index": torch.tensor([item["index"] for item in items])}}


def collate_bitext(items: list[dict[str, Any]], pad_id: int, set_id: int) -> dict[str, dict[str, Any]]:
    """Pad a batch of pairs: ids, masks and token -> unit maps per side, synonym pairs ``(B, P, 2)`` (-1 padded)."""
    batch: dict[str, Any] = {
        "set_id": torch.full((len(items),), set_id, dtype=torch.long),
        "index": torch.tensor([item["index"] for item in items]),
    }
    for side in ("src", "tgt"):
        ids = pad_sequences([item[side]["input_ids"] for item in items], pad_id)
        word_index = pad_sequences([item[side]["word_index"] for item in items], -1)
        batch[side] = {"input_ids": ids, "attention_mask": (ids != pad_id).long(), "word_index": word_index,
                       "num_words": torch.tensor([item[side]["num_words"] for item in items])}
    batch["synonyms"] = pad_pairs([item["synonyms"] for item in items])
    batch["gold"] = [item["gold"] for item in items] if items[0]["gold"] is not None else None
    return {"bitext": batch}
