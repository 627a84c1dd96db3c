"""Monolingual text for multilingual masked-LM (MMLM) training."""

from __future__ import annotations

import contextlib
import logging
from functools import partial
from typing import Any

import datasets
import torch
from torch.utils.data import ConcatDataset, DataLoader
from torchdata.stateful_dataloader import StatefulDataLoader

from veco_lightning.data.base import SourceDataModule
from veco_lightning.data.cache import cache_lock, file_identity, load_sharded, write_sharded
from veco_lightning.data.collators import MLMCollator, collate_text
from veco_lightning.data.readers import (
    MAX_LINE_CHARS,
    READER_VERSION,
    BadLinePolicy,
    HubSource,
    delete_text_dataset,
    expand_globs,
    load_text_dataset,
    text_dataset_key,
)
from veco_lightning.data.streaming import StreamingBlocks, check_run_length, check_stream_patterns, stream_loader
from veco_lightning.data.tokenizer import boundary_ids, encode_ids, source_tokenizer_cache
from veco_lightning.distributed import world_info
from veco_lightning.lexicon.languages import check_language

log = logging.getLogger(__name__)

# Bump when the packing format changes, so stale caches are not reused.
_PACKING_VERSION = 1


def pack_blocks(token_lists: list[list[int]], block_length: int, bos_id: int, eos_id: int) -> list[list[int]]:
    """Concatenate documents (each followed by ``</s>``) and cut the stream into blocks of exactly
    ``block_length`` tokens, each starting with ``<s>``, as XLM-R does: no padding, no wasted compute.
    The tail shorter than a block is dropped."""
    stream: list[int] = []
    for ids in token_lists:
        stream.extend(ids)
        stream.append(eos_id)
    body = block_length - 1
    return [[bos_id, *stream[start : start + body]] for start in range(0, len(stream) - body + 1, body)]


class MonolingualDataModule(SourceDataModule):
    """Per-language monolingual text, tokenized once, packed into full blocks and masked for MMLM.

    Each language's text is tokenized and packed into blocks of ``max_length`` tokens with ``datasets.map`` in
    ``prepare_data`` (local rank 0 of each node, or global rank 0 with ``prepare_data_per_node: false``; or once
    ahead of the launch with ``veco-prepare``) and saved under ``cache_dir`` in resumable shards (memory-mapped
    Arrow, keyed by the files' identity: path, size and modification time, the tokenizer and the options); later
    runs reuse it, a file edited in place is read again. Training draws languages with exponential smoothing (``alpha``)
    through :class:`~veco_lightning.data.sampling.LanguageSampler`, each rank its own shard, and masks in the
    collator (dynamic masking: a new mask every time a block is seen). The train loader is a torchdata
    ``StatefulDataLoader``, so a resumed run continues mid-epoch where it stopped.

    With ``streaming: true`` nothing is tokenized ahead: ``prepare_data`` only checks the sources, and training reads
    the files (local or object-store URLs) through :class:`~veco_lightning.data.streaming.StreamingBlocks`, which
    tokenizes and packs on the fly, shards by rank and loader worker and resumes exactly. The stream is endless, so
    ``trainer.max_steps`` ends the run and ``trainer.val_check_interval`` counts steps (an int;
    ``samples_per_epoch`` sets Lightning's epoch length); validation uses the first ``val_blocks`` blocks of each
    language, which training skips (``val_fraction``, ``lines``, ``prepared`` and ``hub_datasets`` do not apply).

    Args:
        files: language code -> file glob(s): ``.txt`` (one text per line), ``.jsonl`` (``text_field``), or
            ``.parquet``. ``pkg://veco_lightning/...`` points inside the installed package. With ``streaming``, also
            fsspec URLs (``s3://``, ``gs://``, ``hf://``, ``https://``) and compressed files (``.txt.gz``, ...).
        hub_datasets: language code -> a Hugging Face dataset (needs network or a local hub cache).
        tokenizer: tokenizer directory or hub name. The composite datamodule sets it through ``connect``.
        max_length: block length in tokens, ``<s>`` included.
        batch_size: blocks per batch on each device.
        alpha: language sampling exponent q_i ∝ p_i^alpha (0.3 as XLM-R, 0.5 as VECO, 1 natural).
        mlm_probability: fraction of tokens to predict.
        whole_word_mask: mask whole words (SentencePiece-aware) instead of single tokens.
        mask_replace_prob: of the predicted tokens, the fraction replaced by ``<mask>``.
        random_replace_prob: of the predicted tokens, the fraction replaced by a random token.
        val_fraction: fraction of each language's blocks held out for validation (the last blocks; at least one
            when positive and the language has two or more).
        samples_per_epoch: blocks drawn per epoch over all ranks (default: all training blocks).
        text_field: the text column of jsonl / parquet files.
        lines: keep lines ``[first, last)`` of every txt / jsonl file (``[0, -200]``: hold out the last 200).
        on_bad_line: ``error`` stops at the first bad line (not UTF-8, a control character, longer than
            ``max_line_chars``, unreadable JSON), naming file, line and fix; ``skip`` skips it and counts it in a
            warning per file. An empty or blank-only file is an error either way.
        max_line_chars: longest text (line, JSON or Parquet text) in characters; a longer one is a bad line.
        extra_languages: language codes to accept beyond the ISO 639-1 / 639-3 codes the package knows (inside
            ``VecoDataModule``, a code declared by one source counts for all).
        num_workers: data loader worker processes.
        num_proc: processes for tokenization in ``prepare_data``.
        cache_dir: where tokenized blocks are stored.
        seed: seed of the language sampling order (masking follows the global seed).
        prepared: train on what ``veco-prepare`` wrote to ``cache_dir``, never tokenizing (see
            :class:`~veco_lightning.data.base.SourceDataModule`).
        shard_rows: lines (documents) per prepared shard.
        prepare_data_per_node: prepare on every node (node-local ``cache_dir``) or once (shared ``cache_dir``).
        streaming: read and tokenize the files while training instead of preparing them (corpora larger than the
            disk cache or memory; see above).
        language_sizes: with ``streaming``, language -> size in any one unit for the sampling shares p_i (default:
            the bytes of its files as stored, compressed files counting compressed).
        val_blocks: with ``streaming``, blocks held out per language for validation: the first blocks of its first
            file, never trained on.
    """

    _cache_kind = "monolingual"

    def __init__(
        self,
        files: dict[str, str | list[str]] | None = None,
        hub_datasets: dict[str, HubSource] | None = None,
        tokenizer: str | None = None,
        max_length: int = 512,
        batch_size: int = 32,
        alpha: float = 0.3,
        mlm_probability: float = 0.15,
        whole_word_mask: bool = False,
        mask_replace_prob: float = 0.8,
        random_replace_prob: float = 0.1,
        val_fraction: float = 0.01,
        samples_per_epoch: int | None = None,
        text_field: str = "text",
        lines: list[int | None] | None = None,
        on_bad_line: BadLinePolicy = "error",
        max_line_chars: int = MAX_LINE_CHARS,
        extra_languages: list[str] | None = None,
        num_workers: int = 0,
        num_proc: int | None = None,
        cache_dir: str = ".cache/veco_lightning",
        seed: int = 0,
        prepared: bool = False,
        shard_rows: int = 1_000_000,
        prepare_data_per_node: bool = True,
        streaming: bool = False,
        language_sizes: dict[str, float] | None = None,
        val_blocks: int = 100,
    ) -> None:
        super().__init__(tokenizer, max_length, batch_size, alpha, samples_per_epoch, num_workers, num_proc, cache_dir,
                         seed, prepared, shard_rows, prepare_data_per_node)
        self.sources: dict[str, Any] = {**(files or {}), **(hub_datasets or {})}
        if not self.sources:
            raise ValueError("MonolingualDataModule needs files (language -> globs) or hub_datasets")
        self.mlm_probability = mlm_probability
        self.whole_word_mask = whole_word_mask
        self.mask_replace_prob = mask_replace_prob
        self.random_replace_prob = random_replace_prob
        self.val_fraction = val_fraction
        self.text_field = text_field
        self.lines = lines
        self.on_bad_line = on_bad_line
        self.max_line_chars = max_line_chars
        self.extra_languages = list(extra_languages or [])
        self.train_sets: dict[str, datasets.Dataset] = {}
        self.val_sets: dict[str, datasets.Dataset] = {}
        self.streaming = streaming
        self.language_sizes = language_sizes
        self.val_blocks = val_blocks
        self.stream: StreamingBlocks | None = None
        if streaming:
            unavailable = {"hub_datasets": hub_datasets, "lines": lines, "prepared": prepared}
            given = [name for name, value in unavailable.items() if value]
            if given:
                raise ValueError(f"data.monolingual: {', '.join(given)} cannot be used with streaming: give hub data "
                                 "as hf:// file URLs, hold out text with val_blocks or by splitting the files, and "
                                 "choose between streaming and prepared data")

    def source_names(self) -> list[str]:
        return list(self.sources)

    def source_identity(self, language: str) -> Any:
        source = self.sources[language]
        if isinstance(source, HubSource):
            return vars(source)
        return file_identity(expand_globs(source, f" (language {language!r})"))

    def source_options(self, language: str) -> list:
        return [_PACKING_VERSION, READER_VERSION, self.text_field, self.max_length, self.lines, self.on_bad_line,
                self.max_line_chars, vars(self.sources[language]) if isinstance(self.sources[language], HubSource)
                else None]

    def check_sources(self) -> None:
        """Every language code and file glob, checked before any text is read."""
        for language, source in self.sources.items():
            check_language(language, "in data.monolingual", self.extra_languages)
            if self.streaming:
                check_stream_patterns(source, f" (language {language!r})")
            elif not isinstance(source, HubSource):
                expand_globs(source, f" (language {language!r})")

    def prepare_data(self) -> None:
        if self.streaming:  # nothing to prepare: training reads and tokenizes the files as it goes
            self.check_sources()
            return
        super().prepare_data()

    def prepare_source(self, language: str, path: str) -> dict[str, Any]:
        """Read a language's text, tokenize and pack it into blocks in one pass (``num_proc`` processes), shard by
        shard into ``path``; the raw text's own cache is deleted afterwards (only the blocks stay)."""
        tokenizer, max_length, source = self.tokenizer, self.max_length, self.sources[language]
        hub = isinstance(source, HubSource)

        def tokenize_and_pack(batch: dict[str, list]) -> dict[str, list]:
            ids = encode_ids(tokenizer, batch["text"])
            return {"input_ids": pack_blocks(ids, max_length, *boundary_ids(tokenizer))}

        # The raw text's cache is shared by every source of the same files and reading options (another tokenizer or
        # block length, in this run or another sharing cache_dir), and deleted once tokenized: held for the whole read.
        raw_lock = contextlib.nullcontext() if hub else cache_lock(self.cache_dir, "raw-" + text_dataset_key(
            source, self.text_field, self.on_bad_line, self.lines, self.max_line_chars))
        with raw_lock:
            raw = load_text_dataset(source, self.text_field, self.on_bad_line, cache_dir=self.cache_dir,
                                    lines=self.lines, max_line_chars=self.max_line_chars)
            source_tokenizer_cache(tokenizer, len(raw))
            # Packing works within a map batch: 10,000 documents leave one partial block out, not one per document.
            summary = write_sharded(path, raw, tokenize_and_pack, shard_rows=self.shard_rows, num_proc=self.num_proc,
                                    desc=f"Tokenizing {language}", batch_size=10_000, remove_columns=raw.column_names)
            if not hub:
                delete_text_dataset(raw)  # the raw text, read from the files again if ever needed
        if summary["rows"] == 0:
            raise ValueError(
                f"Language {language!r} has fewer tokens than one block of max_length={self.max_length}: add text or "
                "lower max_length"
            )
        log.info("%s: %d lines -> %d blocks of %d (cached at %s)", language, summary["input_rows"], summary["rows"],
                 self.max_length, path)
        return summary

    def setup(self, stage: str | None = None) -> None:
        if self.streaming:
            self.setup_stream()
            return
        if self.train_sets:
            return
        for language in self.sources:
            blocks = load_sharded(self.cache_location(language))
            self.warn_unknown_tokens(language, blocks.data, {"input_ids": language})
            blocks = blocks.with_format("torch")
            held_out = max(1, round(self.val_fraction * len(blocks))) if self.val_fraction > 0 else 0
            held_out = held_out if len(blocks) >= 2 else 0
            self.train_sets[language] = blocks.select(range(len(blocks) - held_out))
            if held_out:
                self.val_sets[language] = blocks.select(range(len(blocks) - held_out, len(blocks)))
        sizes = {lang: len(ds) for lang, ds in self.train_sets.items()}
        log.info("MMLM training blocks per language: %s", sizes)

    def setup_stream(self) -> None:
        """Open every language's stream (reading nothing but the held-out start of its first file) and keep its
        first ``val_blocks`` blocks for validation."""
        if self.stream is not None:
            return
        rank, world_size = world_info()
        self.stream = StreamingBlocks(
            self.sources, self.tokenizer, self.max_length, self.alpha, language_sizes=self.language_sizes,
            val_blocks=self.val_blocks, seed=self.seed, rank=rank, world_size=world_size, text_field=self.text_field,
            on_bad_line=self.on_bad_line, max_line_chars=self.max_line_chars,
        )
        self.val_sets = {lang: datasets.Dataset.from_dict({"input_ids": blocks}).with_format("torch")
                         for lang, blocks in self.stream.held_out.items() if blocks}

    def collator(self, deterministic: bool = False) -> MLMCollator:
        return MLMCollator(
            self.tokenizer, self.mlm_probability, self.whole_word_mask, self.mask_replace_prob,
            self.random_replace_prob, key="mmlm", deterministic=deterministic,
        )

    def train_dataloader(self) -> StatefulDataLoader:
        if self.streaming:
            check_run_length(self.trainer, self.samples_per_epoch)
            return stream_loader(self.stream, self.batch_size, self.collator(), self.num_workers,
                                 self.samples_per_epoch)
        return self.sampled_loader(self.train_sets, self.collator())

    def val_dataloader(self) -> DataLoader | list:
        if not self.val_sets:
            return []
        return DataLoader(
            ConcatDataset(list(self.val_sets.values())),
            batch_size=self.batch_size,
            collate_fn=self.collator(deterministic=True),
            num_workers=self.num_workers,
            generator=torch.Generator(),  # never draws from the global random state (exact resume)
        )

    # The held-out blocks also serve `veco-fit test` (masked-LM loss).
    test_dataloader = val_dataloader

    def predict_dataloader(self) -> DataLoader | list:
        """The held-out blocks, unmasked (``veco-fit predict`` embeds clean text)."""
        if not self.val_sets:
            return []
        return DataLoader(ConcatDataset(list(self.val_sets.values())), batch_size=self.batch_size,
                          collate_fn=partial(collate_text, pad_id=self.tokenizer.pad_token_id),
                          num_workers=self.num_workers, generator=torch.Generator())
