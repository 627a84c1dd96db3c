"""The composite datamodule: one batch per step for every objective, from the three training sources, plus the
evaluation sets scored in validation and test. The only place that joins ``data/`` and ``evaluation/``."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from lightning import LightningDataModule

from veco_lightning.data.base import TokenizedDataModule
from veco_lightning.data.collators import join_inputs
from veco_lightning.data.monolingual import MonolingualDataModule
from veco_lightning.data.parallel import ParallelDataModule
from veco_lightning.data.schedule import ScheduledLoader
from veco_lightning.data.synonym import SynonymAlignedDataModule
from veco_lightning.evaluation.datamodule import EvaluationDataModule

log = logging.getLogger(__name__)


class VecoDataModule(TokenizedDataModule):
    """The data side of VECO pre-training: a shared tokenizer and one datamodule per kind of data.

    Each source datamodule is also usable alone; here they share the tokenizer and their loaders are combined so
    that one training step receives a batch for every objective: ``{"mmlm": {...}, "tlm": {...}, "pairs": {...}}``.
    Every source is sharded across ranks by its own sampler.

    ``parallel`` and ``synonym`` may be given together (for example dictionaries for some language pairs only: those
    pairs go to ``synonym``, the others to ``parallel``). When both feed a step their TLM views are joined into one
    batch and so are their contrastive views (rows of ``parallel`` then ``synonym``): one forward pass each, and the
    sequence contrast's in-batch negatives span both sources, whose batch sizes add up.

    Args:
        tokenizer: tokenizer directory or hub name, shared by all sources (see ``veco-train-tokenizer``).
        monolingual: monolingual text for MMLM.
        parallel: translation pairs for TLM and the sequence contrast; their held-out tails are scored in
            validation.
        synonym: translation pairs with mined dictionary synonyms: TLM, sequence and token contrast (pairs without a
            dictionary train every objective but the token contrast). Its held-out tails are scored in validation,
            with synonym retrieval through its dictionaries.
        evaluation: aligned pairs scored in validation and test (retrieval, word alignment, synonym retrieval);
            alone, it makes an evaluation-only data config for ``veco-fit test``.
        proportions: source (``monolingual``, ``parallel``, ``synonym``) -> probability that it feeds a step (default
            1: every step trains every objective). Drawn per step from ``seed``, identically on every rank.
        seed: seed of that schedule.
        prepared: when set, the ``prepared`` option of every source: ``true`` trains on what ``veco-prepare`` wrote
            and never tokenizes (an unprepared source is an error).
        prepare_data_per_node: ``true`` (Lightning's default): local rank 0 of every node prepares, for a
            node-local ``cache_dir``; ``false``: global rank 0 alone, for a ``cache_dir`` every node shares.
    """

    def __init__(
        self,
        tokenizer: str,
        monolingual: MonolingualDataModule | None = None,
        parallel: ParallelDataModule | None = None,
        synonym: SynonymAlignedDataModule | None = None,
        evaluation: EvaluationDataModule | None = None,
        proportions: dict[str, float] | None = None,
        seed: int = 0,
        prepared: bool | None = None,
        prepare_data_per_node: bool = True,
    ) -> None:
        super().__init__(tokenizer)
        self.proportions = proportions
        self.seed = seed
        self.prepare_data_per_node = prepare_data_per_node
        if parallel is not None and synonym is not None and parallel.restart_positions != synonym.restart_positions:
            raise ValueError("data.parallel and data.synonym join their TLM batches: give both the same "
                             "restart_positions")
        candidates = {"monolingual": monolingual, "parallel": parallel, "synonym": synonym}
        self.sources: dict[str, TokenizedDataModule] = {name: dm for name, dm in candidates.items() if dm is not None}
        self.pair_sources = [dm for dm in (parallel, synonym) if dm is not None]
        for dm in self.sources.values():
            if prepared is not None:
                dm.prepared = prepared
            dm.prepare_data_per_node = prepare_data_per_node
        held_out = [dm for dm in self.pair_sources if dm.val_pairs]
        if evaluation is None and held_out:  # an evaluation datamodule hosts the held-out pairs
            evaluation = EvaluationDataModule(allow_empty=True, max_length=max(dm.max_length for dm in held_out))
        if evaluation is not None and synonym is not None:
            evaluation.dictionaries = {**synonym.dictionaries, **evaluation.dictionaries}
        self.evaluation = evaluation
        self.members = [*self.sources.values(), *([evaluation] if evaluation is not None else [])]
        if not self.members:
            raise ValueError("VecoDataModule needs at least one data source (monolingual: ..., evaluation: ...)")
        for dm in self.members:
            dm.connect(tokenizer=tokenizer)

    def prepare_data(self) -> None:
        # Every path, glob and language code of every source first, so that a typo in the last source stops the run
        # before the first one is tokenized; a language code declared by one member counts for all.
        extra_languages = sorted({code for dm in self.members for code in dm.extra_languages})
        for dm in self.members:
            dm.connect(extra_languages=extra_languages)
            if not getattr(dm, "prepared", False):  # prepared sources need not have their raw files here
                dm.check_sources()
        for dm in self.members:
            dm.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        for dm in self.sources.values():
            dm.setup(stage)
        if self.evaluation is not None:
            if not self.evaluation.sets:
                for dm in self.pair_sources:
                    for pair, (src, tgt) in dm.held_out.items():
                        src_lang, _, tgt_lang = pair.partition("-")
                        self.evaluation.add_pairs(f"{pair}-heldout", src_lang, tgt_lang, src, tgt)
            self.evaluation.setup(stage)

    def train_dataloader(self) -> ScheduledLoader:
        if not self.sources:
            raise ValueError("Training needs a data source (monolingual: ..., parallel: ..., synonym: ...); "
                             "evaluation data is not trained on")
        from veco_lightning.data.streaming import check_run_length

        for dm in self.sources.values():
            if getattr(dm, "streaming", False):  # a member has no trainer of its own to check against
                check_run_length(self.trainer, dm.samples_per_epoch)
        loaders = {name: dm.train_dataloader() for name, dm in self.sources.items()}
        combine = partial(join_batches, pad_id=self.pad_token_id)
        return ScheduledLoader(loaders, self.proportions, self.seed, combine=combine)

    def run_config(self) -> dict[str, Any]:
        """What decides the training batches, in plain values: each source's languages or language pairs, batch
        size, length and sampling exponent, and the mix of sources and the seed (kept in checkpoints)."""
        config: dict[str, Any] = {"proportions": dict(self.proportions or {}), "seed": self.seed}
        for name, dm in self.sources.items():
            inputs = dm.files if hasattr(dm, "files") else dm.sources
            config[name] = {"inputs": sorted(map(str, inputs)), "batch_size": dm.batch_size,
                            "max_length": dm.max_length, "alpha": dm.alpha}
        return config

    def state_dict(self) -> dict[str, Any]:
        return {"run_config": self.run_config()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """A resume with another data config is not exact (other batches follow the restored positions): said, not
        refused, since extending a run with more data is a choice a user may make."""
        saved, now = state_dict.get("run_config"), self.run_config()
        if saved is None or saved == now:
            return
        changed = [f"{key}: {saved.get(key)} -> {now.get(key)}" for key in sorted({*saved, *now})
                   if saved.get(key) != now.get(key)]
        log.warning("Resuming with another data config than the run that wrote the checkpoint (%s): the run goes on "
                    "from the restored loader positions, but it is no longer the run it would have been", "; ".join(
                        changed))

    def _flat(self, kind: str, members: list) -> list:
        """The ``kind`` loaders of the members that have any (Lightning's default hook raises)."""
        loaders = []
        for dm in members:
            if getattr(type(dm), f"{kind}_dataloader") is getattr(LightningDataModule, f"{kind}_dataloader"):
                continue  # e.g. pair sources have no test or predict data
            found = getattr(dm, f"{kind}_dataloader")()
            loaders.extend(found if isinstance(found, list) else [found])
        return loaders

    def val_dataloader(self) -> list:
        loaders = self._flat("val", self.members)
        trainer = getattr(self, "trainer", None)
        if not loaders and trainer is not None and trainer.state.fn == "validate":  # `veco-fit validate`: say why
            log.warning("Nothing to validate: this data config holds no held-out data. Set "
                        "data.monolingual.val_fraction, data.parallel / data.synonym val_pairs, or an evaluation "
                        "section (data.evaluation)")
        return loaders

    def test_dataloader(self) -> list:
        return self._flat("test", self.members)

    def predict_dataloader(self) -> list:
        """Clean inputs to embed: the evaluation pair sets (both sides), then the held-out monolingual blocks."""
        members = ([self.evaluation] if self.evaluation is not None else []) + list(self.sources.values())
        return self._flat("predict", members)


def join_batches(batches: list[dict[str, Any]], pad_id: int) -> dict[str, Any]:
    """One step's batch from the batches its sources yielded: inputs of the same kind (the TLM and pairs views of
    parallel and synonym-aligned data) are joined with :func:`~veco_lightning.data.collators.join_inputs`."""
    kinds: dict[str, list[dict[str, Any]]] = {}
    for batch in batches:
        for kind, inputs in batch.items():
            kinds.setdefault(kind, []).append(inputs)
    return {kind: join_inputs(parts, pad_id) for kind, parts in kinds.items()}
