"""What the datamodules of the package share: a tokenizer loaded on first use (settable by a composite), and for the
training sources the sampling, caching and loader settings."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import torch
from lightning import LightningDataModule
from torch.utils.data import ConcatDataset, Dataset
from torchdata.stateful_dataloader import StatefulDataLoader
from transformers import PreTrainedTokenizerBase

from veco_lightning.checkpointing import tokenizer_of
from veco_lightning.data.cache import (
    cache_lock,
    is_complete,
    prepared_path,
    read_summary,
    record_prepared,
    source_cache,
)
from veco_lightning.data.sampling import LanguageSampler
from veco_lightning.data.tokenizer import load_tokenizer

log = logging.getLogger(__name__)

UNKNOWN_SAMPLE_ROWS = 2000
"""Rows of a prepared source whose tokens :meth:`SourceDataModule.warn_unknown_tokens` counts."""
UNKNOWN_WARN_SHARE = 0.01
"""A larger share of unknown tokens in a source is warned about (normal text under a tokenizer that covers its
language holds next to none)."""


class TokenizedDataModule(LightningDataModule):
    """A datamodule with a lazily loaded tokenizer.

    The tokenizer is loaded on first use (not in ``__init__``) so that building a config is cheap; its size and pad
    id are what the CLI links into the model. A composite datamodule hands its tokenizer to its members through
    ``connect``, unless a member names its own.

    ``check_sources`` checks every path, glob and language code of the configuration without reading data; a
    composite runs it on all its members before any of them reads or tokenizes.
    """

    extra_languages: list[str] = []  # language codes accepted beyond lexicon.languages.KNOWN_LANGUAGES

    def __init__(self, tokenizer: str | None = None) -> None:
        super().__init__()
        self.tokenizer_name = tokenizer
        self._tokenizer: PreTrainedTokenizerBase | None = None

    def connect(self, tokenizer: str | None = None, extra_languages: list[str] | None = None) -> None:
        """Bind settings known only to an enclosing composite datamodule: its tokenizer (unless this datamodule names
        its own) and the language codes any of its members declares."""
        if self.tokenizer_name is None:
            self.tokenizer_name = tokenizer
        if extra_languages:
            self.extra_languages = sorted({*self.extra_languages, *extra_languages})

    def check_sources(self) -> None:
        """Check every path, glob and language code of the configuration, reading no data (errors say what to fix)."""

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        if self._tokenizer is None:
            if self.tokenizer_name is None:
                raise ValueError("No tokenizer: set data.tokenizer (a tokenizer directory or hub name)")
            # A veco-fit checkpoint names the tokenizer it was trained with: evaluating a checkpoint is then the
            # same command as evaluating an export (data.tokenizer and model.encoder.path name the same file).
            self._tokenizer = load_tokenizer(tokenizer_of(self.tokenizer_name))
        return self._tokenizer

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    @property
    def pad_token_id(self) -> int:
        return self.tokenizer.pad_token_id


class SourceDataModule(TokenizedDataModule):
    """A training source: per-language (or per-language-pair) sets, tokenized once into ``cache_dir`` and drawn with
    exponential smoothing, each rank its own shard, through a resumable loader.

    Args:
        tokenizer: tokenizer directory or hub name (a composite datamodule sets it through ``connect``).
        max_length: longest sequence in tokens.
        batch_size: examples per batch on each device.
        alpha: sampling exponent q_i ∝ p_i^alpha over the languages (or language pairs).
        samples_per_epoch: examples drawn per epoch over all ranks (default: every training example).
        num_workers: data loader worker processes.
        num_proc: processes that tokenize in ``prepare_data`` (``None``: this one).
        cache_dir: where tokenized data is stored.
        seed: seed of the sampling order.
        prepared: read what ``veco-prepare`` wrote to ``cache_dir`` (found through its ``prepared.json``) and never
            tokenize: a missing or differently prepared source is an error. The raw files need not be present.
        shard_rows: input rows (lines, documents, pairs) per prepared shard; a killed preparation resumes at the
            shard it was in.
        prepare_data_per_node: prepare on local rank 0 of every node (node-local ``cache_dir``) rather than on
            global rank 0 only (a ``cache_dir`` on a filesystem all nodes share).
    """

    _cache_kind = "source"

    def __init__(self, tokenizer: str | None, max_length: int, batch_size: int, alpha: float,
                 samples_per_epoch: int | None, num_workers: int, num_proc: int | None, cache_dir: str,
                 seed: int, prepared: bool = False, shard_rows: int = 1_000_000,
                 prepare_data_per_node: bool = True) -> None:
        super().__init__(tokenizer)
        self.max_length = max_length
        self.batch_size = batch_size
        self.alpha = alpha
        self.samples_per_epoch = samples_per_epoch
        self.num_workers = num_workers
        self.num_proc = num_proc
        self.cache_dir = cache_dir
        self.seed = seed
        self.prepared = prepared
        self.shard_rows = shard_rows
        self.prepare_data_per_node = prepare_data_per_node

    # -- the prepared cache: one sharded folder per source (language or language pair) -----------------------------

    def source_names(self) -> list[str]:
        """The sources (languages or language pairs), each prepared into its own folder."""
        raise NotImplementedError

    def source_identity(self, name: str) -> Any:
        """What identifies a source's content cheaply (its files' path, size and modification time)."""
        raise NotImplementedError

    def source_options(self, name: str) -> list:
        """Every option that changes what is stored for a source (the tokenizer is added)."""
        raise NotImplementedError

    def prepare_source(self, name: str, path: str) -> dict[str, Any]:
        """Tokenize (and mine, pack) a source into ``path`` with :func:`~veco_lightning.data.cache.write_sharded`;
        returns its summary."""
        raise NotImplementedError

    def cache_location(self, name: str) -> str:
        """The folder holding a source's prepared data (through the manifest when ``prepared``)."""
        options = self.source_options(name)
        if self.prepared:
            _, key = source_cache(self.cache_dir, self._cache_kind, name, self.tokenizer, None, *options)
            return prepared_path(self.cache_dir, self._cache_kind, name, key)
        return source_cache(self.cache_dir, self._cache_kind, name, self.tokenizer, self.source_identity(name),
                            *options)[0]

    def prepare_data(self) -> None:
        """Tokenize every source not yet in ``cache_dir`` (resuming a killed preparation) and list it in the
        manifest; with ``prepared``, only check that every source was prepared."""
        if self.prepared:
            for name in self.source_names():
                self.cache_location(name)
            return
        self.check_sources()
        for name in self.source_names():
            self.prepare_one(name)

    def prepare_one(self, name: str) -> None:
        """Prepare one source unless its cache is complete, and list it in the manifest."""
        path, key = source_cache(self.cache_dir, self._cache_kind, name, self.tokenizer, self.source_identity(name),
                                 *self.source_options(name))
        if not is_complete(path):
            with cache_lock(self.cache_dir, path):  # another run sharing cache_dir may be preparing it: wait
                if not is_complete(path):
                    self.prepare_source(name, path)
        record_prepared(self.cache_dir, self._cache_kind, name, path, key, read_summary(path))

    def warn_unknown_tokens(self, source: str, table: Any, columns: dict[str, str]) -> None:
        """Warn when the tokenizer's unknown token makes up more than :data:`UNKNOWN_WARN_SHARE` of a source's tokens
        (``columns``: Arrow column -> the language it holds), counted on :data:`UNKNOWN_SAMPLE_ROWS` rows spread over
        the prepared data: a tokenizer that does not cover a language's characters turns its text into ``<unk>``, so
        nothing of that language is learnt (and ``mining: tokens`` loses its words), with no error anywhere."""
        import numpy as np
        import pyarrow.compute as pc

        unk = self.tokenizer.unk_token_id
        rows = len(table)
        if unk is None or rows == 0:
            return
        sample = np.unique(np.linspace(0, rows - 1, min(rows, UNKNOWN_SAMPLE_ROWS)).astype(np.int64))
        for column, language in columns.items():
            ids = pc.list_flatten(table.column(column).take(sample)).to_numpy(zero_copy_only=False)
            share = float(np.mean(ids == unk)) if len(ids) else 0.0
            if share > UNKNOWN_WARN_SHARE:
                where = source if source == language else f"{source} ({language} side)"
                log.warning("%s %s: %.1f%% of the tokens (of %d rows spread over the data) are the tokenizer's "
                            "unknown token %r: it does not cover this text's characters, so the model cannot learn "
                            "its words. Use a tokenizer trained on %s too (veco-train-tokenizer, or XLM-R's)",
                            self._cache_kind, where, 100 * share, len(sample), self.tokenizer.unk_token, language)

    def sampled_loader(self, sets: dict[str, Dataset], collate_fn: Callable[[list[Any]], Any],
                       lengths: Sequence[int] | None = None, bucket_batches: int = 0) -> StatefulDataLoader:
        """A resumable loader over the concatenated ``sets`` drawn by :class:`LanguageSampler` (with ``lengths``,
        batches of similar lengths). Full batches only: every rank steps with the same batch size, which the
        cross-rank gather of the contrastive loss needs."""
        names = list(sets)
        sampler = LanguageSampler([len(sets[n]) for n in names], self.alpha, self.samples_per_epoch, seed=self.seed,
                                  lengths=lengths, batch_size=self.batch_size, bucket_batches=bucket_batches)
        return StatefulDataLoader(
            ConcatDataset([sets[n] for n in names]),
            batch_size=self.batch_size,
            sampler=sampler,
            collate_fn=collate_fn,
            num_workers=self.num_workers,
            drop_last=True,
            pin_memory=torch.cuda.is_available(),
            persistent_workers=self.num_workers > 0,
            # Its own generator: starting an iterator never draws from the global random state, which dropout
            # alone consumes (what makes a resumed run exact; see callbacks.RandomStates).
            generator=torch.Generator().manual_seed(self.seed),
        )
