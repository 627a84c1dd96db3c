"""Parallel sentence pairs for translation LM (TLM) and sequence-level contrastive learning."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import datasets
from torchdata.stateful_dataloader import StatefulDataLoader

from veco_lightning.data.base import SourceDataModule
from veco_lightning.data.cache import cache_path, file_identity
from veco_lightning.data.collators import ParallelCollator
from veco_lightning.data.masking import Masker
from veco_lightning.data.readers import (
    MAX_LINE_CHARS,
    READER_VERSION,
    BadLinePolicy,
    ParallelSource,
    check_pair_source,
    read_pairs,
)
from veco_lightning.data.tokenizer import encode_with_offsets
from veco_lightning.lexicon.languages import check_language, split_pair

log = logging.getLogger(__name__)

__all__ = ["ParallelDataModule", "ParallelSource"]


class ParallelDataModule(SourceDataModule):
    """Translation pairs per language pair, tokenized once and cached, sampled with exponential smoothing and
    batched by length; each batch carries a TLM view and two clean views (see
    :class:`~veco_lightning.data.collators.ParallelCollator`).

    The last ``val_pairs`` pairs of every source are held out of training; the composite datamodule scores them
    in validation (retrieval, and synonym retrieval where a dictionary is configured).

    Pairs are read by :func:`~veco_lightning.data.readers.read_pairs`: a bad pair (an empty side, a malformed line,
    invalid UTF-8, a control character, a side longer than ``max_line_chars``) is an error naming ``file:line``, or
    with ``on_bad_line: skip`` a skip counted per file. The cache is keyed by the files' identity (path, size,
    modification time): a file edited in place is read again.

    Args:
        files: language pair (``de-en``, codes ISO 639-1 or 639-3) -> source.
        tokenizer: tokenizer directory or name (the composite datamodule sets it through ``connect``).
        max_length: longest TLM sequence; each side is cut to ``(max_length - 4) // 2`` tokens so that the pair
            fits (VECO: 128 per pair).
        batch_size: pairs per batch on each device.
        alpha: language-pair sampling exponent (q ∝ p^alpha).
        tlm_probability: TLM masking rate (VECO: 25% for bilingual data).
        mask_replace_prob: of the TLM-selected tokens, the fraction replaced by ``<mask>``.
        random_replace_prob: of the TLM-selected tokens, the fraction replaced by a random token.
        whole_word_mask: TLM masks whole words (SentencePiece-aware) instead of single tokens.
        restart_positions: restart y's position ids in the TLM view (XLM style; off as in XLM-R / VECO).
        tlm: produce the TLM view.
        tlm_fraction: share of each batch's pairs that also form the TLM view (the contrastive views always use
            all of them); below 1 it trades TLM compute for contrastive batch size.
        contrastive: produce the clean views for the contrastive objectives.
        val_pairs: pairs per language pair held out for validation.
        bucket_batches: batches per length-sorting window (0: no bucketing).
        samples_per_epoch: pairs drawn per epoch over all ranks (default: all training pairs).
        num_workers: loader workers.
        num_proc: processes that tokenize (and mine) each language pair in ``prepare_data`` (``None``: this one).
        cache_dir: where tokenized pairs are stored.
        seed: sampling seed.
        on_bad_line: ``error`` stops at the first bad pair (``file:line`` and the fix); ``skip`` skips bad pairs,
            counted per file with the first locations logged.
        max_line_chars: longest side of a pair, in characters.
        extra_languages: language codes to accept beyond the ISO 639-1 / 639-3 codes the package knows.
    """

    _cache_kind = "parallel"
    _columns = ("src", "tgt")

    def __init__(
        self,
        files: dict[str, ParallelSource],
        tokenizer: str | None = None,
        max_length: int = 128,
        batch_size: int = 32,
        alpha: float = 0.3,
        tlm_probability: float = 0.25,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
        whole_word_mask: bool = False,
        restart_positions: bool = False,
        tlm: bool = True,
        tlm_fraction: float = 1.0,
        contrastive: bool = True,
        val_pairs: int = 200,
        bucket_batches: int = 50,
        samples_per_epoch: int | None = None,
        num_workers: int = 0,
        num_proc: int | None = None,
        cache_dir: str = ".cache/veco_lightning",
        seed: int = 0,
        on_bad_line: BadLinePolicy = "error",
        max_line_chars: int = MAX_LINE_CHARS,
        extra_languages: list[str] | None = None,
    ) -> None:
        super().__init__(tokenizer, max_length, batch_size, alpha, samples_per_epoch, num_workers, num_proc, cache_dir,
                         seed)
        if not files:
            raise ValueError("ParallelDataModule needs files: {de-en: {path: ...}}")
        self.files = files
        self.tlm_probability = tlm_probability
        self.mask_replace_prob = mask_replace_prob
        self.random_replace_prob = random_replace_prob
        self.whole_word_mask = whole_word_mask
        self.restart_positions = restart_positions
        self.tlm, self.contrastive = tlm, contrastive
        self.tlm_fraction = tlm_fraction
        self.val_pairs = val_pairs
        self.bucket_batches = bucket_batches
        self.on_bad_line = on_bad_line
        self.max_line_chars = max_line_chars
        self.extra_languages = list(extra_languages or [])
        self.train_sets: dict[str, datasets.Dataset] = {}
        self.lengths: dict[str, list[int]] = {}
        self.held_out: dict[str, tuple[list[str], list[str]]] = {}

    def _cache_path(self, pair: str) -> str:
        source = self.files[pair]
        files = source.files()
        identity = file_identity(files) if files else [source.hub, source.hub_config, source.hub_split]
        return cache_path(self.cache_dir, self._cache_kind, pair, self.tokenizer, READER_VERSION, identity,
                          vars(source), self.max_length, self.val_pairs, self.on_bad_line, self.max_line_chars,
                          *self._cache_extra(pair))

    def _cache_extra(self, pair: str) -> list:
        """More cache-key parts (subclasses that store more per pair add their options here)."""
        return []

    def _tokenize_fn(self, pair: str) -> Callable[[dict[str, list]], dict[str, list]]:
        """The batched ``datasets.map`` function that turns ``{"src", "tgt"}`` texts into stored columns."""
        tokenizer, side_length = self.tokenizer, (self.max_length - 4) // 2

        def tokenize(batch: dict[str, list]) -> dict[str, list]:
            out = {}
            for side in ("src", "tgt"):
                out[side] = [ids for ids, _ in encode_with_offsets(tokenizer, batch[side], side_length)]
            out["length"] = [len(a) + len(b) + 4 for a, b in zip(out["src"], out["tgt"])]
            return out

        return tokenize

    def masker(self) -> Masker:
        """The TLM view's masking (rate, 80/10/10 split, whole words)."""
        return Masker.for_tokenizer(self.tokenizer, self.tlm_probability, self.mask_replace_prob,
                                    self.random_replace_prob, self.whole_word_mask)

    def collator(self) -> ParallelCollator:
        return ParallelCollator(self.tokenizer, self.masker(), self.restart_positions, self.tlm, self.contrastive,
                                self.tlm_fraction)

    def _split(self, pair: str) -> tuple[tuple[list[str], list[str]], tuple[list[str], list[str]]]:
        src, tgt = read_pairs(self.files[pair], pair, self.on_bad_line, self.max_line_chars)
        cut = len(src) - self.val_pairs if self.val_pairs else len(src)
        if cut <= 0:
            raise ValueError(f"{pair}: {len(src)} pairs cannot spare val_pairs={self.val_pairs} for validation")
        return (src[:cut], tgt[:cut]), (src[cut:], tgt[cut:])

    def check_sources(self) -> None:
        """Every language pair's codes and files, checked before any pair is read."""
        for pair, source in self.files.items():
            for code in split_pair(pair, self.extra_languages):
                check_language(code, f"in language pair {pair!r}", self.extra_languages)
            check_pair_source(source, pair)

    def prepare_data(self) -> None:
        self.check_sources()
        for pair in self.files:
            if not os.path.exists(self._cache_path(pair)):
                self.prepare_data_for(pair)

    def prepare_data_for(self, pair: str) -> None:
        """Tokenize one language pair's training pairs and store them in the cache."""
        self._tokenize(pair, self._tokenize_fn(pair)).save_to_disk(self._cache_path(pair))

    def _tokenize(self, pair: str, tokenize: Callable[[dict[str, list]], dict[str, list]]) -> datasets.Dataset:
        """The pair's training pairs through ``tokenize``."""
        (src, tgt), _ = self._split(pair)
        raw = datasets.Dataset.from_dict({"src": src, "tgt": tgt})
        # Our own cache key names the result: without it datasets fingerprints the function by pickling it, with
        # every dictionary it closes over (seconds for a large dictionary).
        fingerprint = os.path.basename(self._cache_path(pair))
        return raw.map(tokenize, batched=True, num_proc=self.num_proc, desc=f"Tokenizing {pair}",
                       new_fingerprint=fingerprint)

    def setup(self, stage: str | None = None) -> None:
        if self.train_sets:
            return
        for pair in self.files:
            tokenized = datasets.load_from_disk(self._cache_path(pair))
            self.lengths[pair] = tokenized["length"]
            self.train_sets[pair] = tokenized.select_columns(list(self._columns))
            if self.val_pairs:
                self.held_out[pair] = self._split(pair)[1]
        log.info("Parallel training pairs: %s", {p: len(d) for p, d in self.train_sets.items()})

    def train_dataloader(self) -> StatefulDataLoader:
        lengths = [n for pair in self.train_sets for n in self.lengths[pair]]
        return self.sampled_loader(self.train_sets, self.collator(), lengths, self.bucket_batches)

    def val_dataloader(self) -> list:
        return []  # held-out pairs are scored through the composite datamodule's evaluation sets
