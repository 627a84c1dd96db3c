"""VecoPretrainModule: the encoder and the weighted multi-granularity objectives."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from lightning import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn

from veco_lightning.evaluation.report import EvaluationReporter
from veco_lightning.evaluation.scorer import CrossLingualScorer, EvaluationOptions
from veco_lightning.losses.masked_lm import MaskedLMLoss
from veco_lightning.losses.sequence_contrastive import SequenceContrastiveLoss
from veco_lightning.models.encoder import EncoderSpec, build_encoder
from veco_lightning.losses.token_contrastive import TokenContrastiveLoss, TokenNegatives
from veco_lightning.models.pooling import SentencePooling, WordPooling, pool_sentences, pool_words, select_layer
from veco_lightning.optim import WarmupLinearSchedule, weight_decay_groups

Batch = dict[str, dict[str, torch.Tensor]]


@dataclass
class SequenceContrastOptions:
    """Sequence-to-sequence contrast on translation pairs (see ``losses/sequence_contrastive.py``).

    Args:
        temperature: τ of cos / τ.
        learnable_temperature: learn τ.
        margin: additive margin on the positive (LaBSE: 0.3).
        gather: negatives from all ranks, gathered with gradient.
        pooling: sentence vector: ``cls`` or mask-aware ``mean``.
        layer: hidden layer pooled (-1: last; see ``models/pooling.select_layer``).
        projection_dim: add a projection head (Linear -> GELU -> Linear) of this size on top of the pooled vector;
            ``None`` contrasts the pooled vector itself.
    """

    temperature: float = 0.05
    learnable_temperature: bool = False
    margin: float = 0.0
    gather: bool = True
    pooling: SentencePooling = "cls"
    layer: int = -1
    projection_dim: int | None = None


@dataclass
class TokenContrastOptions:
    """Token-to-token contrast on dictionary synonym pairs (see ``losses/token_contrastive.py``).

    Args:
        temperature: τ of cos / τ.
        learnable_temperature: learn τ.
        negatives: ``instance`` (the other words of the partner sentence) or ``batch`` (also the words of the other
            pairs in the batch).
        pooling: word vector: ``mean`` of its sub-word states or the ``first`` sub-word's.
        layer: hidden layer the words are pooled from (-1: last).
        projection_dim: add a projection head (Linear -> GELU -> Linear) of this size on the word vectors.
        input: ``pairs``: the clean separate encodings the sequence contrast uses (no extra forward pass);
            ``tlm``: the TLM-concatenated (masked) input, sharing the TLM forward pass.
    """

    temperature: float = 0.1
    learnable_temperature: bool = False
    negatives: TokenNegatives = "instance"
    pooling: WordPooling = "mean"
    layer: int = -1
    projection_dim: int | None = None
    input: Literal["pairs", "tlm"] = "pairs"


def _projection(hidden: int, dim: int | None) -> nn.Module:
    return nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, dim)) if dim else nn.Identity()


class VecoPretrainModule(LightningModule):
    """Pre-trains an XLM-R compatible encoder with a weighted sum of objectives.

    ``L = Σ_k w_k L_k`` over the objectives present in the batch. A batch is ``{input_name: tensors}`` (``mmlm``:
    masked monolingual blocks; ``tlm``: masked concatenated translation pairs; ``pairs``: the two clean sides of
    translation pairs, with ``word_index`` / ``synonyms`` when they come from synonym-aligned data); each input kind
    has a handler that runs the encoder once and returns the losses it serves (``pairs`` -> ``seq`` and ``tok``;
    ``tlm`` -> ``tlm``, and ``tok`` when ``tok_contrast.input`` is ``tlm``). An input whose objectives all have weight 0 is skipped before its forward pass. Each part is logged
    as ``train/<objective>_loss`` (and ``val/...``), the weighted sum as ``train/loss``.

    Batches of aligned pairs (``bitext``, from the evaluation datamodule) are not trained on: in validation and test
    they are scored (sentence retrieval, synonym retrieval, word alignment), logged as
    ``val/retrieval/<set>/src2tgt`` and so on, and ``test`` also writes a report (JSON, Markdown, PNG).

    Args:
        encoder: which encoder to build (a preset) or load (a checkpoint directory).
        vocab_size: tokenizer size; linked from the datamodule by the CLI.
        pad_token_id: padding id; linked from the datamodule by the CLI.
        tokenizer: the tokenizer's directory or name, recorded so exports from checkpoints include it;
            linked from the datamodule by the CLI.
        loss_weights: weight of each objective (``mmlm``, ``tlm``, ``seq``, ``tok``); absent objectives weigh 1.0.
        seq_contrast: options of the sequence contrastive objective.
        tok_contrast: options of the token contrastive objective.
        optimizer: optimizer factory, called with parameter groups (default AdamW).
        lr_scheduler: schedule factory, called with the optimizer (default: linear warm-up and decay, stepped
            every optimizer step).
        weight_decay: decay of matrices; biases and norm weights are never decayed.
        evaluation: how encoders are scored on aligned pairs (layer, pooling, margin, alignment method, report).
    """

    def __init__(
        self,
        encoder: EncoderSpec | None = None,
        vocab_size: int | None = None,
        pad_token_id: int = 1,
        tokenizer: str | None = None,
        loss_weights: dict[str, float] | None = None,
        seq_contrast: SequenceContrastOptions | None = None,
        tok_contrast: TokenContrastOptions | None = None,
        optimizer: OptimizerCallable = torch.optim.AdamW,
        lr_scheduler: LRSchedulerCallable = WarmupLinearSchedule,
        weight_decay: float = 0.01,
        evaluation: EvaluationOptions | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer", "lr_scheduler"])
        self.encoder_spec = encoder or EncoderSpec()
        self.model = build_encoder(self.encoder_spec, vocab_size, pad_token_id)
        self.loss_weights = {"mmlm": 1.0, "tlm": 1.0, "seq": 1.0, "tok": 1.0, **(loss_weights or {})}
        self.mlm_loss = MaskedLMLoss(self.model.lm_head)
        self.seq_options = seq_contrast or SequenceContrastOptions()
        self.seq_loss = SequenceContrastiveLoss(
            self.seq_options.temperature, self.seq_options.learnable_temperature, self.seq_options.margin,
            self.seq_options.gather,
        )
        self.tok_options = tok_contrast or TokenContrastOptions()
        self.tok_loss = TokenContrastiveLoss(
            self.tok_options.temperature, self.tok_options.learnable_temperature, self.tok_options.negatives
        )
        hidden = self.model.config.hidden_size
        self.seq_projection = _projection(hidden, self.seq_options.projection_dim)
        self.tok_projection = _projection(hidden, self.tok_options.projection_dim)
        self.optimizer_factory = optimizer
        self.scheduler_factory = lr_scheduler
        self.weight_decay = weight_decay
        self.scorer = CrossLingualScorer(evaluation)
        # Input kind -> (objectives it serves, handler computing their losses).
        tok_on_tlm = self.tok_options.input == "tlm"
        self.handlers: dict[str, tuple[tuple[str, ...], Callable[[dict[str, torch.Tensor]], dict]]] = {
            "mmlm": (("mmlm",), lambda inputs: {"mmlm": self.masked_lm(inputs)}),
            "tlm": (("tlm", "tok") if tok_on_tlm else ("tlm",), self.translation_lm),
            "pairs": (("seq",) if tok_on_tlm else ("seq", "tok"), self.contrast),
        }

    @property
    def encoder(self) -> nn.Module:
        """The ``XLMRobertaModel`` trunk (no LM head)."""
        return self.model.roberta

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Final hidden states ``(B, L, D)``."""
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def encode_layer(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, layer: int | None = None) -> torch.Tensor:
        """Hidden states ``(B, L, D)`` of one layer (default: the evaluation layer)."""
        layer = self.scorer.options.layer if layer is None else layer
        return self._encode({"input_ids": input_ids, "attention_mask": attention_mask}, {layer})[layer]

    def _encode(self, inputs: dict[str, torch.Tensor], layers: set[int]) -> dict[int, torch.Tensor]:
        """One forward pass; the hidden states ``(B, L, D)`` of each requested layer."""
        outputs = self.encoder(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                               position_ids=inputs.get("position_ids"), output_hidden_states=layers != {-1})
        if layers == {-1}:
            return {-1: outputs.last_hidden_state}
        return {layer: select_layer(outputs.hidden_states, layer) for layer in layers}

    def _wants(self, objective: str) -> bool:
        return self.loss_weights.get(objective, 1.0) != 0

    def masked_lm(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """MMLM or TLM: the encoder on the masked input, the sparse head on the masked positions."""
        loss, _ = self.mlm_loss(self._encode(inputs, {-1})[-1], inputs["labels"])
        return loss

    def translation_lm(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """TLM, and the token contrast on the same forward pass when ``tok_contrast.input`` is ``tlm``."""
        with_tok = self.tok_options.input == "tlm" and self._wants("tok") and "synonyms" in inputs
        if not with_tok:
            return {"tlm": self.masked_lm(inputs)}
        hidden = self._encode(inputs, {-1, self.tok_options.layer})
        out = {"tlm": self.mlm_loss(hidden[-1], inputs["labels"])[0]}
        offset = int(inputs["num_src_units"])
        index = inputs["word_index"]
        num_units = max(offset + 1, int(index.max()) + 1)  # source units [0, offset), target units after
        words, present = pool_words(hidden[self.tok_options.layer], index, num_units, self.tok_options.pooling)
        words = self.tok_projection(words)
        synonyms = inputs["synonyms"]
        tgt_synonyms = torch.where(synonyms >= 0, synonyms - torch.tensor([0, offset], device=synonyms.device), -1)
        out["tok"] = self.tok_loss(words[:, :offset], words[:, offset:], present[:, :offset], present[:, offset:],
                                   tgt_synonyms)
        return out

    def contrast(self, inputs: dict[str, dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Sequence (and token) contrast on the clean views; both sides go through the encoder in one forward."""
        src, tgt = inputs["src"], inputs["tgt"]
        batch = src["input_ids"].shape[0]
        length = max(src["input_ids"].shape[1], tgt["input_ids"].shape[1])
        pad = self.hparams.pad_token_id

        def joined(key: str, value: int) -> torch.Tensor:  # (2B, L): src rows, then tgt rows
            return torch.cat([nn.functional.pad(x[key], (0, length - x[key].shape[1]), value=value) for x in (src, tgt)])

        ids, mask = joined("input_ids", pad), joined("attention_mask", 0)
        with_seq = self._wants("seq")
        with_tok = self._wants("tok") and self.tok_options.input == "pairs" and "synonyms" in inputs
        layers = ({self.seq_options.layer} if with_seq else set()) | ({self.tok_options.layer} if with_tok else set())
        if not layers:
            return {}
        hidden = self._encode({"input_ids": ids, "attention_mask": mask}, layers)
        out = {}
        if with_seq:
            vectors = self.seq_projection(pool_sentences(hidden[self.seq_options.layer], mask, self.seq_options.pooling))
            out["seq"] = self.seq_loss(vectors[:batch], vectors[batch:], inputs.get("src_keys"),
                                       inputs.get("tgt_keys"))  # (B, D') each
        if with_tok:
            index = joined("word_index", -1)  # (2B, L)
            words, present = pool_words(hidden[self.tok_options.layer], index, int(index.max()) + 1,
                                        self.tok_options.pooling)  # (2B, U, D), (2B, U)
            words = self.tok_projection(words)
            out["tok"] = self.tok_loss(words[:batch], words[batch:], present[:batch], present[batch:],
                                       inputs["synonyms"])
        return out

    def compute_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Unweighted loss of every objective with a non-zero weight that the batch feeds."""
        losses: dict[str, torch.Tensor] = {}
        for name, inputs in batch.items():
            if name not in self.handlers:
                raise KeyError(f"Batch has input {name!r}, but no objective consumes it (known: {list(self.handlers)})")
            objectives, handler = self.handlers[name]
            if any(self.loss_weights.get(o, 1.0) != 0 for o in objectives):
                losses.update(handler(inputs))
        return losses

    def _shared_step(self, batch: Batch, stage: str) -> torch.Tensor:
        losses = self.compute_losses(batch)
        if not losses:
            raise RuntimeError("Every objective fed by this batch has weight 0: nothing to train")
        total = sum(self.loss_weights.get(name, 1.0) * value for name, value in losses.items())
        batch_size = sum(_batch_size(inputs) for inputs in batch.values())
        on_val = stage == "val"
        for name, value in losses.items():
            self.log(f"{stage}/{name}_loss", value, batch_size=batch_size, sync_dist=on_val, add_dataloader_idx=False)
        self.log(f"{stage}/loss", total, batch_size=batch_size, prog_bar=True, sync_dist=on_val,
                 add_dataloader_idx=False)
        return total

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        return self._shared_step(batch, "train")

    def validation_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor | None:
        return self._eval_step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor | None:
        return self._eval_step(batch, "test")

    def _eval_step(self, batch: Batch, stage: str) -> torch.Tensor | None:
        if "bitext" in batch:
            self.scorer.update(batch["bitext"], self.encode_layer)
            return None
        if "mining" in batch:
            self.scorer.update_mining(batch["mining"], self.encode_layer)
            return None
        return self._shared_step(batch, stage)

    def on_validation_epoch_end(self) -> None:
        EvaluationReporter(self, "val").log(self.scorer.compute())

    def on_test_epoch_end(self) -> None:
        reporter = EvaluationReporter(self, "test")
        reporter.write(reporter.log(self.scorer.compute()))

    def predict_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> dict[str, torch.Tensor]:
        """Final hidden states of every input in the batch."""
        return {name: self(inputs["input_ids"], inputs["attention_mask"]) for name, inputs in batch.items()}

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = self.optimizer_factory(weight_decay_groups(self, self.weight_decay))
        scheduler = self.scheduler_factory(optimizer)
        if isinstance(scheduler, WarmupLinearSchedule) and scheduler.total_steps is None:
            total = self.trainer.estimated_stepping_batches
            if not math.isfinite(total):
                raise ValueError("The LR schedule needs a length: set trainer.max_steps, or lr_scheduler total_steps "
                                 "when the run is bounded by max_time")
            scheduler.set_total_steps(int(total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def _batch_size(inputs: dict) -> int:
    """Sequences in one input kind (``pairs`` count their source sides)."""
    return inputs["input_ids"].shape[0] if "input_ids" in inputs else inputs["src"]["input_ids"].shape[0]
