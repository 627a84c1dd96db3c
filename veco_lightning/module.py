"""VecoPretrainModule: the encoder, the masked-LM head and the two alignment heads, weighted and logged."""

from __future__ import annotations

import inspect
import logging
import math
from dataclasses import replace
from typing import Any, Literal

import torch
from lightning import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from torch.utils.checkpoint import checkpoint

from veco_lightning.evaluation.report import EvaluationReporter, markdown_tables
from veco_lightning.evaluation.scorer import CrossLingualScorer, EvaluationOptions
from veco_lightning.hardware import check_cpu_precision
from veco_lightning.logs import progress_bar_shown
from veco_lightning.losses.masked_lm import IGNORE_INDEX, MaskedLMLoss
from veco_lightning.models.dropout import ATTENTION
from veco_lightning.models.encoder import EncoderSpec, build_encoder, enable_activation_checkpointing, usable_length
from veco_lightning.models.heads import (
    SequenceAlignmentHead,
    SequenceContrastOptions,
    TokenAlignmentHead,
    TokenContrastOptions,
)
from veco_lightning.models.packing import PackedRows, row_multiple, xlmr_positions
from veco_lightning.models.pooling import select_layer
from veco_lightning.optim import (
    WarmupLinearSchedule,
    clip_gradients,
    gradient_norm,
    note_parameter_shapes,
    schedule_length,
    weight_decay_groups,
)
from veco_lightning.paths import recorded_path, resolve_path, sentence_head_modules

log = logging.getLogger(__name__)

Batch = dict[str, dict[str, Any]]
Inputs = dict[str, Any]

__all__ = ["SequenceContrastOptions", "TokenContrastOptions", "VecoPretrainModule"]

OBJECTIVES = ("mmlm", "tlm", "seq", "tok")  # the keys of model.loss_weights

# Checkpoints written before the heads existed name their parameters differently.
_RENAMED = {"seq_projection.": "seq_head.projection.", "tok_projection.": "tok_head.projection.",
            "seq_loss.": "seq_head.loss.", "tok_loss.": "tok_head.loss."}


class VecoPretrainModule(LightningModule):
    """Pre-trains an XLM-R compatible encoder with a weighted sum of objectives.

    ``L = Σ_k w_k L_k`` over the objectives the batch feeds. A batch is ``{input_name: tensors}``; each input goes
    through the encoder once and feeds its objectives (see :meth:`training_step`):

    ======  ===========================================  =============================================
    input   what                                         objectives
    ======  ===========================================  =============================================
    mmlm    masked monolingual blocks                    ``mmlm`` (sparse LM head)
    tlm     masked ``<s> x </s></s> y </s>`` pairs        ``tlm``; ``tok`` when ``tok_contrast.input: tlm``
    pairs   the clean sides of the pairs, in one batch   ``seq``; ``tok`` when ``tok_contrast.input: pairs``
    ======  ===========================================  =============================================

    An objective with weight 0 is not computed, and an input none of whose objectives counts skips its forward pass.
    Each part is logged as ``train/<objective>_loss`` (and ``val/...``), the weighted sum as ``train/loss``.

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
        optimizer: optimizer factory, called with parameter groups (default AdamW, with its fused kernel where every
            parameter is on a CPU or CUDA device: on the CPU, torch's AdamW otherwise steps tensor by tensor, 5x
            slower at the ``small`` shape).
        lr_scheduler: schedule factory, called with the optimizer (default: linear warm-up and decay, stepped
            every optimizer step).
        weight_decay: decay of matrices; biases and norm weights are never decayed.
        evaluation: how encoders are scored on aligned pairs (layer, pooling, margin, alignment method, report).
        nonfinite_loss: what a training step whose loss is NaN or infinite does: ``skip`` (no update; counted in
            ``train/skipped_steps`` and logged) or ``stop`` (the run stops with an error at once). Every rank takes
            the same decision.
        max_nonfinite_steps: with ``skip``, the run stops after this many consecutive skipped steps.
        compile: compile the encoder with ``torch.compile`` (``true``, or a dict of its options, e.g.
            ``{mode: max-autotune}``). Shapes are marked dynamic (batches vary in length), and the weights keep their
            names (``nn.Module.compile``), so checkpoints and exports are unchanged. See ``benchmarks/README.md``
            for where it pays off.
        compile_scope: what ``compile`` compiles: ``layers`` (default) each transformer layer on its own, the
            layers sharing one compiled graph (regional compilation: one layer's compile time, whatever the depth);
            ``trunk`` the whole trunk as one graph (embeddings and all layers; compile time grows with depth).
        grad_cache_chunk: GradCache (Gao et al. 2021) for the sequence and token contrast: the translation pairs
            (both sides) go through the encoder this many sequences at a time without keeping their activations;
            the contrastive losses see the whole batch (and, with ``gather``, every rank's), and in the backward
            pass each chunk is re-encoded with its dropout masks and back-propagates its part of the gradient. Loss
            and gradients are those of the whole batch at once (tested); peak memory is that of one chunk plus the
            batch's hidden states, so the contrastive batch (its negatives) can grow beyond what fits, for about
            one extra forward pass of the pairs. ``None``: off.
        fused_lm_loss: in full precision, run the LM head's vocabulary projection fused with the masked-LM
            cross-entropy (one logits-sized buffer a call, reused from step to step on the CPU, instead of four
            fresh ones; :class:`~veco_lightning.losses.masked_lm.LinearCrossEntropy`). The same loss and gradients;
            ``false`` runs the two apart (for comparisons). Under bf16 / fp16 autocast the projection runs in 16
            bits and the cross-entropy of its 16-bit logits in fp32 a block of rows at a time, without autocast's
            full-size fp32 copies (:class:`~veco_lightning.losses.masked_lm.BlockwiseCrossEntropy`; ``false``: the
            fp32 upcast and ``F.cross_entropy``).
        unpad: encode padded batches (the translation pairs, TLM rows, evaluation batches) padding-free: the real
            tokens of all rows as one packed sequence through every position-wise layer, the rows apart only inside
            attention (:mod:`~veco_lightning.models.packing`). The same hidden states at every real position; the
            pad positions' states are zeros instead of the padded encoder's. Needs the package's attention function
            (``encoder.attn_implementation: sdpa`` with ``encoder.fast_dropout``, the defaults); with any other
            attention, or with ``compile``, batches stay padded. ``false``: always padded (for comparisons).
        row_multiple: round the row counts of the encoder's packed (``unpad``) batches and of the LM head's masked
            positions up to a multiple of this with filler rows, which are dropped again: the same loss and gradients.
            ``None`` (default): 64 when the step computes in bf16 / fp16 on the CPU, where oneDNN plans its kernels
            per shape and a row count that changes every step re-plans them (the VECO (d) step in bf16 ran
            1.26x faster with it on an AMX Xeon), 1 otherwise; ``1``: exact row counts.
        activation_checkpointing: keep only each transformer layer's input in the forward pass and recompute the
            layer's activations when the backward pass reaches it (transformers' activation checkpointing,
            non-reentrant): the activation memory of one layer at a time instead of all of them, for a second forward
            pass of the layers (about a third more compute). For large shapes, long blocks or large batches on a
            device with little memory; composes with DDP, FSDP, ``grad_cache_chunk``, bf16 and ``compile``. Exact:
            the same loss and gradients (the dropout masks are drawn again from the saved random state; tested).
            See ``benchmarks/activation_checkpointing.py``.
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
        nonfinite_loss: Literal["skip", "stop"] = "skip",
        max_nonfinite_steps: int = 10,
        compile: bool | dict[str, Any] = False,
        compile_scope: Literal["layers", "trunk"] = "layers",
        grad_cache_chunk: int | None = None,
        fused_lm_loss: bool = True,
        unpad: bool = True,
        row_multiple: int | None = None,
        activation_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer", "lr_scheduler"])
        self.encoder_spec = encoder or EncoderSpec()
        # Local paths recorded absolute: a checkpoint is read from other directories (veco-export, evaluation runs).
        self.hparams["tokenizer"] = recorded_path(tokenizer)
        if self.encoder_spec.path is not None:
            self.hparams["encoder"] = replace(self.encoder_spec, path=recorded_path(self.encoder_spec.path))
        self.model = build_encoder(self.encoder_spec, vocab_size, pad_token_id)
        if activation_checkpointing:
            enable_activation_checkpointing(self.model)
        self.loss_weights = {objective: 1.0 for objective in OBJECTIVES}
        unknown = set(loss_weights or {}) - set(OBJECTIVES)
        if unknown:  # a misspelt key would leave its objective at 1.0 and weigh nothing itself
            raise ValueError(f"model.loss_weights: unknown objective(s) {sorted(unknown)}; the objectives are "
                             f"{', '.join(OBJECTIVES)} (an objective left out weighs 1.0, 0 turns it off)")
        for objective, weight in (loss_weights or {}).items():
            if not math.isfinite(weight) or weight < 0:
                raise ValueError(f"model.loss_weights.{objective}: {weight}; a weight is a finite number >= 0 "
                                 f"(0 turns the objective off)")
            self.loss_weights[objective] = float(weight)
        hidden = self.model.config.hidden_size
        seq, tok = seq_contrast or SequenceContrastOptions(), tok_contrast or TokenContrastOptions()
        self.mlm_loss = MaskedLMLoss(self.model.lm_head, fused=fused_lm_loss, row_multiple=row_multiple)
        self.seq_head = SequenceAlignmentHead(
            hidden, pooling=seq.pooling, layer=seq.layer, projection_dim=seq.projection_dim,
            temperature=seq.temperature, learnable_temperature=seq.learnable_temperature, margin=seq.margin,
            gather=seq.gather,
        )
        self.tok_head = TokenAlignmentHead(
            hidden, pooling=tok.pooling, layer=tok.layer, projection_dim=tok.projection_dim,
            temperature=tok.temperature, learnable_temperature=tok.learnable_temperature, negatives=tok.negatives,
        )
        self.tok_input = tok.input
        self.optimizer_factory = optimizer
        self.scheduler_factory = lr_scheduler
        self.weight_decay = weight_decay
        self.scorer = CrossLingualScorer(evaluation)
        self.nonfinite_loss = nonfinite_loss
        self.max_nonfinite_steps = max_nonfinite_steps
        self.skipped_steps = 0  # non-finite training steps skipped, in all
        self.skipped_in_a_row = 0
        self.grad_cache_chunk = grad_cache_chunk
        self.unpad = unpad
        self.row_multiple = row_multiple
        self.compile_options = ({} if compile is True else dict(compile)) if compile else None
        if compile_scope not in ("layers", "trunk"):
            raise ValueError(f"model.compile_scope: {compile_scope!r}; it is 'layers' (each transformer layer "
                             f"compiled on its own) or 'trunk' (the whole trunk as one graph)")
        self.compile_scope = compile_scope
        note_parameter_shapes(self)  # before any strategy shards them: the weight-decay groups need them (FSDP)

    def configure_model(self) -> None:
        """Compiles the encoder when asked (once; after the strategy placed the model)."""
        if self.compile_options is None:
            return
        for module in self.compiled_modules():
            if not getattr(module, "_compiled_call_impl", None):
                module.compile(**{"dynamic": True, **self.compile_options})

    def compiled_modules(self) -> list[nn.Module]:
        """The modules ``compile`` compiles (``compile_scope``): the trunk, or each of its transformer layers (the
        same code: torch.compile, which treats a module's parameters as inputs, reuses one layer's graph for all)."""
        return list(self.encoder.encoder.layer) if self.compile_scope == "layers" else [self.encoder]

    @property
    def encoder(self) -> nn.Module:
        """The ``XLMRobertaModel`` trunk (no LM head)."""
        return self.model.roberta

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Final hidden states ``(B, L, D)``."""
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def encode(self, inputs: Inputs, *layers: int, chunk: int | None = None) -> dict[int, torch.Tensor]:
        """One forward pass; the hidden states ``(B, L, D)`` of the last layer (key -1) and of ``layers``.

        With ``chunk`` (and gradients on), the rows go through the encoder ``chunk`` at a time under activation
        checkpointing (GradCache, see ``grad_cache_chunk``): only the returned states of the whole batch are kept; each
        chunk's activations are recomputed, one chunk at a time, when the backward pass reaches its states.
        """
        wanted = {-1, *layers}
        rows = inputs["input_ids"].shape[0]
        if chunk and rows > chunk and torch.is_grad_enabled():
            order = sorted(wanted)
            keys = ("input_ids", "attention_mask", "position_ids")
            parts = [checkpoint(self._encode_rows, *[None if inputs.get(k) is None else inputs[k][start:start + chunk]
                                                      for k in keys], tuple(order), use_reentrant=False)
                     for start in range(0, rows, chunk)]
            return {layer: torch.cat([part[i] for part in parts]) for i, layer in enumerate(order)}
        full = inputs.get("full")  # counted on the host before the batch moved (on_before_batch_transfer), if it was
        packed = self._packing(inputs["attention_mask"], full)
        if packed is not None:
            positions = inputs.get("position_ids")
            if positions is None:
                positions = xlmr_positions(inputs["input_ids"], self.model.config.pad_token_id)
            pad_id = self.model.config.pad_token_id
            outputs = self.encoder(input_ids=packed.pack(inputs["input_ids"], pad_id),
                                   position_ids=packed.pack(positions, pad_id), output_hidden_states=wanted != {-1},
                                   packed_rows=packed, use_cache=False)
            if wanted == {-1}:
                return {-1: packed.unpack(outputs.last_hidden_state)}
            return {layer: packed.unpack(select_layer(outputs.hidden_states, layer)) for layer in wanted}
        # Without pad positions no mask is needed: none given, transformers does not ask the device whether the mask
        # is all ones (a synchronisation).
        outputs = self.encoder(input_ids=inputs["input_ids"], attention_mask=None if full else inputs["attention_mask"],
                               position_ids=inputs.get("position_ids"), output_hidden_states=wanted != {-1},
                               use_cache=False)  # an encoder keeps no key/value cache (nor asks, when checkpointed)
        if wanted == {-1}:
            return {-1: outputs.last_hidden_state}
        return {layer: select_layer(outputs.hidden_states, layer) for layer in wanted}

    def _packing(self, attention_mask: torch.Tensor, full: bool | None = None) -> PackedRows | None:
        """The padding-free layout of a batch (:mod:`~veco_lightning.models.packing`) when ``unpad`` is on, the
        encoder attends through this package's attention function and the batch holds pad positions (or its size
        is not a multiple of the row multiple, which the packed length is rounded up to). ``full``: whether the mask
        is all ones, if known on the host (else read from the mask)."""
        if not self.unpad or self.compile_options is not None or self.model.config._attn_implementation != ATTENTION:
            return None
        multiple = row_multiple(self.row_multiple, self.model.get_input_embeddings().weight)
        if (bool(attention_mask.all()) if full is None else full) and attention_mask.numel() % multiple == 0:
            return None
        return PackedRows.of(attention_mask, multiple)

    def _encode_rows(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor | None,
                     layers: tuple[int, ...]) -> tuple[torch.Tensor, ...]:
        hidden = self.encode({"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids},
                             *layers)
        return tuple(hidden[layer] for layer in layers)

    def encode_layer(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                     layer: int | None = None) -> torch.Tensor:
        """Hidden states ``(B, L, D)`` of one layer (default: the evaluation layer)."""
        layer = self.scorer.options.layer if layer is None else layer
        return self.encode({"input_ids": input_ids, "attention_mask": attention_mask}, layer)[layer]

    def active(self, objective: str) -> bool:
        """Whether ``objective`` has a non-zero weight."""
        return self.loss_weights.get(objective, 1.0) != 0

    def on_before_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """What the step needs to know of a loss batch's shapes, read on the host while the batch is still there
        (:func:`host_facts`): on a GPU, reading them from the device would make the host wait for it. (On the CPU
        there is no such wait, and the batch passes unchanged.) A datamodule that overrides this hook is called
        instead of it (Lightning calls one of the two): return ``host_facts(batch)`` there to keep the facts; without
        them the step reads the same from the device."""
        return batch if self.device.type == "cpu" else host_facts(batch)

    def training_step(self, batch: Batch, batch_idx: int, stage: str = "train") -> torch.Tensor:
        """Each input goes through the encoder once and feeds its objectives; the weighted sum is returned.
        (Validation runs the same step with ``stage="val"`` on its loss batches.)"""
        unknown = batch.keys() - {"mmlm", "tlm", "pairs"}
        if unknown:
            raise KeyError(f"Batch has inputs {sorted(unknown)} that no objective consumes (known: mmlm, tlm, pairs)")
        losses: dict[str, torch.Tensor] = {}
        if "mmlm" in batch and self.active("mmlm"):  # monolingual blocks -> MMLM
            mmlm = batch["mmlm"]
            losses["mmlm"] = self.mlm_loss(self.encode(mmlm)[-1], mmlm["labels"], mmlm.get("num_masked"))[0]
        tlm = batch.get("tlm")  # concatenated translation pairs -> TLM (and token contrast on input: tlm)
        tok_on_tlm = tlm is not None and self.tok_input == "tlm" and self.active("tok") and "synonyms" in tlm
        if tlm is not None and (self.active("tlm") or tok_on_tlm):
            hidden = self.encode(tlm, self.tok_head.layer) if tok_on_tlm else self.encode(tlm)
            if self.active("tlm"):
                losses["tlm"] = self.mlm_loss(hidden[-1], tlm["labels"], tlm.get("num_masked"))[0]
            if tok_on_tlm:
                losses["tok"] = self.tok_head.concatenated(hidden[self.tok_head.layer], tlm["word_index"],
                                                           tlm["synonyms"], int(tlm["num_src_units"]))
        pairs = batch.get("pairs")  # the clean sides, one forward -> sequence (and token) contrast
        with_seq = pairs is not None and self.active("seq")
        tok_on_pairs = pairs is not None and self.tok_input == "pairs" and self.active("tok") and "synonyms" in pairs
        if with_seq or tok_on_pairs:
            both = join_sides(pairs, self.hparams.pad_token_id)  # (2B, L): sources, then targets
            hidden = self.encode(both, *([self.seq_head.layer] if with_seq else []),
                                 *([self.tok_head.layer] if tok_on_pairs else []), chunk=self.grad_cache_chunk)
            if with_seq:
                losses["seq"] = self.seq_head(hidden[self.seq_head.layer], both["attention_mask"],
                                              pairs.get("src_keys"), pairs.get("tgt_keys"))
            if tok_on_pairs:
                losses["tok"] = self.tok_head(hidden[self.tok_head.layer], both["word_index"], pairs["synonyms"])
        if not losses:
            if stage != "train":  # held-out data of objectives this run does not weigh (monolingual blocks, mmlm: 0)
                return None
            raise RuntimeError(f"Every objective fed by this batch ({', '.join(sorted(batch))}) has weight 0: nothing "
                               "to train. Give one of them a weight in model.loss_weights, or remove the data source "
                               "that feeds only them")
        total = sum(self.loss_weights.get(name, 1.0) * value for name, value in losses.items())
        if stage == "train" and not self.finite(total):
            return self.skip_step(losses)
        self.skipped_in_a_row = 0
        self.log_losses(losses, total, batch, stage)
        return total

    def finite(self, loss: torch.Tensor) -> bool:
        """Whether the loss is finite on every rank (all ranks must skip a step together)."""
        finite = bool(torch.isfinite(loss.detach()).all())
        if self._trainer is not None:
            finite = self.trainer.strategy.reduce_boolean_decision(finite, all=True)
        return finite

    def skip_step(self, losses: dict[str, torch.Tensor]) -> None:
        """No update for a step with a non-finite loss: count it, say which objectives, stop when asked to."""
        self.skipped_steps += 1
        self.skipped_in_a_row += 1
        step = self.trainer.global_step if self._trainer is not None else None
        bad = ", ".join(f"{name}={float(value):.4g}" for name, value in losses.items())
        hint = ("lower the learning rate (optimizer.init_args.lr), keep gradient clipping on "
                "(trainer.gradient_clip_val), or check the data of this step")
        if self.nonfinite_loss == "stop" or self.skipped_in_a_row >= self.max_nonfinite_steps:
            raise RuntimeError(f"Non-finite training loss at step {step} ({bad}), {self.skipped_in_a_row} step(s) in a "
                               f"row: the run stops. To continue, {hint}; resume from the last checkpoint")
        log.warning("Step %s skipped: non-finite loss (%s); %d skipped so far. If it repeats, %s", step, bad,
                    self.skipped_steps, hint)
        if self._trainer is not None:
            self.log("train/skipped_steps", float(self.skipped_steps), add_dataloader_idx=False)
        return None

    def log_losses(self, losses: dict[str, torch.Tensor], total: torch.Tensor, batch: Batch, stage: str) -> None:
        """Log every part as ``<stage>/<objective>_loss``, and in training the weighted sum as ``train/loss``.

        Validation logs its parts only: its batches feed fewer objectives than training's (held-out monolingual
        blocks feed MMLM alone), so a validation sum would not compare with ``train/loss``; each
        ``val/<objective>_loss`` compares with ``train/<objective>_loss``."""
        batch_size = sum(_batch_size(inputs) for inputs in batch.values())
        on_val = stage != "train"
        for name, value in losses.items():
            self.log(f"{stage}/{name}_loss", value, batch_size=batch_size, sync_dist=on_val, add_dataloader_idx=False,
                     prog_bar=on_val)
        if stage == "train":
            self.log("train/loss", total, batch_size=batch_size, prog_bar=progress_bar_shown(self))

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Log the gradient norm (before clipping) on the steps the trainer logs (under FSDP, of the whole gradient:
        :func:`~veco_lightning.optim.gradient_norm`)."""
        if self._trainer is not None and self.trainer.global_step % max(1, self.trainer.log_every_n_steps) == 0:
            norm = gradient_norm(self, self.trainer)
            if norm is not None:
                self.log("train/grad_norm", norm)

    def validation_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor | None:
        return self._eval_step(batch, batch_idx, "val")

    def test_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> torch.Tensor | None:
        return self._eval_step(batch, batch_idx, "test")

    def _eval_step(self, batch: Batch, batch_idx: int, stage: str) -> torch.Tensor | None:
        if "bitext" in batch:
            self.scorer.update(batch["bitext"], self.encode_layer)
            return None
        if "mining" in batch:
            self.scorer.update_mining(batch["mining"], self.encode_layer)
            return None
        return self.training_step(batch, batch_idx, stage)

    def on_validation_epoch_end(self) -> None:
        results = EvaluationReporter(self, "val").log(self.scorer.compute())
        if self.trainer.state.fn == "validate" and self.trainer.is_global_zero:  # `veco-fit validate`: say it
            losses = {k: float(v) for k, v in self.trainer.callback_metrics.items()
                      if k.startswith("val/") and k.endswith("_loss")}
            if losses:
                print("Validation losses: " + ", ".join(f"{k} {v:.4g}" for k, v in sorted(losses.items())))
            if results:
                print(markdown_tables(results))

    def on_test_epoch_end(self) -> None:
        reporter = EvaluationReporter(self, "test")
        reporter.write(reporter.log(self.scorer.compute()))

    def predict_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        """Sentence embeddings of clean input, pooled as the evaluation pools them (``model.evaluation.layer`` and
        ``pooling``): both sides of evaluation pairs (``bitext``), or held-out text blocks (``text``)."""
        if "bitext" in batch:
            pairs = batch["bitext"]
            out = {"set_id": pairs["set_id"], "index": pairs["index"]}
            for side in ("src", "tgt"):
                inputs = pairs[side]
                hidden = self.encode_layer(inputs["input_ids"], inputs["attention_mask"])
                out[side] = self.scorer.pool(hidden, inputs["attention_mask"])
            return out
        if "text" in batch:
            inputs = batch["text"]
            hidden = self.encode_layer(inputs["input_ids"], inputs["attention_mask"])
            return {"embedding": self.scorer.pool(hidden, inputs["attention_mask"])}
        raise KeyError(f"predict embeds clean text (bitext or text batches), got {sorted(batch)}")

    def setup(self, stage: str) -> None:
        """Check, before step 1, that every sequence the data makes fits the encoder's position embeddings. (Also
        note the shapes of parameters added since ``__init__``: the strategy wraps the model after this hook.)"""
        note_parameter_shapes(self)
        check_cpu_precision(self._trainer)
        datamodule = getattr(self._trainer, "datamodule", None)
        self.check_trainable(stage)
        self._prepare_sentence_pooling(stage)
        positions = usable_length(self.model.config)  # XLM-R's positions start after the padding index, BERT's at 0
        for member in self._data_members():
            length = getattr(member, "max_length", None)
            if isinstance(length, int) and length > positions:
                raise ValueError(f"{type(member).__name__} makes sequences of up to max_length={length} tokens but the "
                                 f"encoder has position embeddings for {positions}: lower the data's max_length or "
                                 f"raise model.encoder.max_length to {length} (a preset)")
        if stage == "fit" and getattr(datamodule, "pair_sources", None) is not None:  # VecoDataModule
            self._check_sources_feed_objectives(datamodule)

    def _data_members(self) -> list[Any]:
        """The trainer's datamodule and, for the composite, the datamodules it is made of."""
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        return [m for m in [datamodule, *getattr(datamodule, "members", [])] if m is not None]

    def _prepare_sentence_pooling(self, stage: str) -> None:
        """``model.evaluation.pooling: sentence_transformers``: the encoder folder's own sentence head (pooling,
        ``Dense``, ``Normalize``), read once; for scoring a model as it is (``test``, ``validate``, ``predict``)."""
        path = self.encoder_spec.path
        if self.scorer.options.pooling != "sentence_transformers":
            others = sentence_head_modules(resolve_path(path)) if path is not None else []
            if others:
                log.warning("%s is a sentence-transformers model whose embedding also goes through %s; its "
                            "Transformer's states are scored pooled as model.evaluation.pooling says (%s), which is "
                            "not that model's own embedding: model.evaluation.pooling: sentence_transformers scores "
                            "that", path, ", ".join(others), self.scorer.options.pooling)
            return
        if stage == "fit":
            raise ValueError("model.evaluation.pooling: sentence_transformers scores a sentence-transformers model as "
                             "it is (veco-fit test, validate, predict); in fit the encoder trains but that model's "
                             "Dense layers would not, and the export could not describe them: pool with 'mean' or "
                             "'cls' in training")
        if self.scorer.__dict__["_sentence_head"] is not None:
            return
        if path is None or str(path).endswith(".ckpt"):
            raise ValueError(f"model.evaluation.pooling is sentence_transformers, which reads the sentence head of a "
                             f"sentence-transformers model given as model.encoder.path (got {path!r}); an export of "
                             "this package's runs is one (pooled as the run's model.evaluation says)")
        from veco_lightning.evaluation.datamodule import EvaluationDataModule
        from veco_lightning.models.sentence_head import load_sentence_head

        head = load_sentence_head(path)
        options = self.scorer.options
        if head.layer is not None and options.layer != head.layer:
            if options.layer == -1:  # the default: read the layer the model's own embedding reads
                log.info("%s embeds hidden layer %d (its Transformer module loads %d layers): model.evaluation.layer "
                         "is %d", path, head.layer, head.layer, head.layer)
                options.layer = head.layer
            else:
                log.warning("model.evaluation.layer is %d, but %s embeds hidden layer %d: the scores are not those of "
                            "its own embedding", options.layer, path, head.layer)
        evaluation = next((m for m in self._data_members() if isinstance(m, EvaluationDataModule)), None)
        if evaluation is not None:
            length = evaluation.max_length
            if head.max_seq_length and length > head.max_seq_length:
                log.warning("%s reads at most %d tokens (max_seq_length), data.evaluation.max_length is %d: sentences "
                            "longer than %d tokens are embedded otherwise than the model does; set "
                            "data.evaluation.max_length: %d", path, head.max_seq_length, length,
                            head.max_seq_length, head.max_seq_length)
            self._check_prompt(head, evaluation, path)
        self.scorer.set_sentence_head(head)

    @staticmethod
    def _check_prompt(head: Any, evaluation: Any, path: str) -> None:
        """A sentence-transformers model's prompts against ``data.evaluation.prompt``; the prompt's length in tokens
        for a model that pools without it (counted as sentence-transformers counts it: the prompt tokenized alone,
        ``<s>`` included, a closing special token not)."""
        prompt = evaluation.prompt
        if head.default_prompt is not None and prompt is None:
            log.warning("%s puts the prompt %r (%r) before every input by default, and data.evaluation.prompt gives "
                        "none: set --data.evaluation.prompt=%r to score its own embedding", path,
                        head.default_prompt, head.default_prompt_name, head.default_prompt)
        elif head.prompts and prompt is None:
            log.info("%s defines the prompts %s; data.evaluation.prompt puts one before every sentence", path,
                     head.prompts)
        if prompt and not head.include_prompt:
            ids = evaluation.tokenizer(prompt)["input_ids"]
            head.prompt_length = len(ids) - int(bool(ids) and ids[-1] in evaluation.tokenizer.all_special_ids)
            log.info("%s pools without its prompt's tokens (include_prompt: false): the first %d of each input",
                     path, head.prompt_length)

    def check_trainable(self, stage: str) -> None:
        """An encoder of another architecture (:class:`~veco_lightning.models.encoder.EncoderForEvaluation`) is
        scored (``test``, ``predict``), never trained or validated: the objectives need XLM-R's masked-LM head."""
        if self.model.lm_head is not None or stage in ("test", "predict"):
            return
        path = self.encoder_spec.path
        raise ValueError(
            f"encoder.path {path!r} holds a checkpoint of model type {self.model.config.model_type!r}: veco-fit "
            f"{getattr(stage, 'value', stage)} needs XLM-R's masked-LM head, so it takes XLM-R compatible encoders "
            "(XLM-R, VECO, RoBERTa, a veco-fit export); this one is scored by veco-fit test and predict, and "
            f"veco-xtreme fine-tunes it: veco-xtreme fit --config configs/xtreme/xnli.yaml --model.encoder {path}")

    def _check_sources_feed_objectives(self, datamodule: Any) -> None:
        """A training source all of whose objectives weigh 0 would stop the run at the first step that draws it
        (perhaps hours in, with a small proportion): say so before step 1."""
        proportions = datamodule.proportions or {}
        for name, source in datamodule.sources.items():
            if proportions.get(name, 1.0) == 0:
                continue
            if name == "monolingual":
                feeds = {"mmlm"}
            else:
                synonyms = name == "synonym"
                feeds = ({"tlm"} | ({"tok"} if synonyms and self.tok_input == "tlm" else set())
                         if getattr(source, "tlm", True) else set())
                feeds |= ({"seq"} | ({"tok"} if synonyms and self.tok_input == "pairs" else set())
                          if getattr(source, "contrastive", True) else set())
            if feeds and not any(self.active(objective) for objective in feeds):
                raise ValueError(
                    f"data.{name} feeds {', '.join(sorted(feeds))}, whose model.loss_weights are all 0: its batches "
                    f"would train nothing, and the first step that draws one would stop the run. Remove the source "
                    f"(data.{name}: null), set data.proportions.{name}: 0, or give one of those objectives a weight")

    def configure_gradient_clipping(self, optimizer: torch.optim.Optimizer, gradient_clip_val: float | None = None,
                                    gradient_clip_algorithm: str | None = None) -> None:
        """Under FSDP and with the fused AdamW, where Lightning's own clipping refuses or is wrong, the gradients are
        clipped by :func:`~veco_lightning.optim.clip_gradients`; elsewhere by Lightning."""
        if not clip_gradients(self.trainer, optimizer, gradient_clip_val, gradient_clip_algorithm):
            super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def configure_optimizers(self) -> dict[str, Any]:
        groups = weight_decay_groups(self, self.weight_decay)
        if self.optimizer_factory is torch.optim.AdamW and all(
                p.device.type in ("cpu", "cuda") and p.is_floating_point() for g in groups for p in g["params"]):
            optimizer = torch.optim.AdamW(groups, fused=True)  # the default, fused (same update)
        else:
            optimizer = self.optimizer_factory(groups)
        asked = optimizer.defaults.get("weight_decay")
        default = inspect.signature(type(optimizer)).parameters.get("weight_decay")
        if default is not None and asked not in (default.default, self.weight_decay):
            log.warning("optimizer weight_decay=%s is not used: model.weight_decay=%s decays the matrices and nothing "
                        "decays biases and norms. Set model.weight_decay instead", asked, self.weight_decay)
        scheduler = self.scheduler_factory(optimizer)
        if isinstance(scheduler, WarmupLinearSchedule) and scheduler.total_steps is None:
            total = schedule_length(self.trainer)
            if not math.isfinite(total):
                raise ValueError("The LR schedule needs a length: set trainer.max_steps, or lr_scheduler total_steps "
                                 "when the run is bounded by max_time")
            scheduler.set_total_steps(int(total))
            self._schedule_length = int(total)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_train_start(self) -> None:
        """A run resumed with another length (a larger ``trainer.max_steps``) restores the schedule of the run that
        wrote the checkpoint, which ends at that run's last step: every step after it would train at the final
        learning rate (0 by default) without a word. The schedule is stretched to this run's length instead, as
        the Hugging Face Trainer does, and a warning says so. A resume of the same length changes nothing."""
        length = getattr(self, "_schedule_length", None)
        schedulers = self.lr_schedulers()
        scheduler = schedulers[0] if isinstance(schedulers, list) and schedulers else schedulers
        if length is None or not isinstance(scheduler, WarmupLinearSchedule) or scheduler.total_steps == length:
            return
        before = scheduler.get_last_lr()[0]
        log.warning("The learning-rate schedule restored from the checkpoint is %d steps long, this run %d "
                    "(trainer.max_steps or the epochs changed): stretched to %d steps, so the learning rate at step "
                    "%d goes from %.3g to the new schedule's", scheduler.total_steps, length, length,
                    scheduler.last_epoch, before)
        scheduler.set_total_steps(length)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get("state_dict", {})
        for key in list(state):
            for old, new in _RENAMED.items():
                if key.startswith(old):
                    state[new + key[len(old):]] = state.pop(key)
        self._check_shapes(state, checkpoint.get("hyper_parameters", {}))

    def _check_shapes(self, state: dict[str, Any], hparams: dict[str, Any]) -> None:
        """A checkpoint of another model shape (resuming with another model config) would fail in ``load_state_dict``
        with a page of size mismatches; say what differs and what to do instead. Skipped under sharding strategies,
        whose parameters are flat shards here."""
        trainer = getattr(self, "_trainer", None)
        if trainer is None or type(trainer.strategy).__name__ not in ("SingleDeviceStrategy", "DDPStrategy"):
            return
        own = self.state_dict()
        mismatched = [(key, tuple(value.shape), tuple(own[key].shape)) for key, value in state.items()
                      if key in own and hasattr(value, "shape") and tuple(value.shape) != tuple(own[key].shape)]
        if mismatched:
            key, theirs, ours = mismatched[0]
            saved = hparams.get("encoder")
            raise ValueError(
                f"The checkpoint holds another model: {len(mismatched)} parameter(s) differ in shape ({key}: "
                f"{theirs} in the checkpoint, {ours} in this run's model; checkpoint encoder: {saved}, this run's: "
                f"{self.encoder_spec}, vocabulary {hparams.get('vocab_size')} vs {self.hparams.get('vocab_size')}). "
                "Resume with the model config (and tokenizer) of the run that wrote it, or drop --ckpt_path to start "
                "a new run (to continue from its weights with another shape, you cannot: export it and start from "
                "the export with the same shape)")


def join_sides(pairs: Inputs, pad_id: int) -> Inputs:
    """The two clean sides of a ``pairs`` input as one ``(2B, L)`` batch (sources, then targets), padded to the longer
    side: one forward pass encodes both."""
    src, tgt = pairs["src"], pairs["tgt"]
    length = max(src["input_ids"].shape[1], tgt["input_ids"].shape[1])
    pad_values = {"input_ids": pad_id, "attention_mask": 0, "word_index": -1}
    return {key: torch.cat([nn.functional.pad(side[key], (0, length - side[key].shape[1]), value=value)
                            for side in (src, tgt)])
            for key, value in pad_values.items() if key in src}


def host_facts(batch: Any) -> Any:
    """A loss batch (``mmlm`` / ``tlm`` / ``pairs`` inputs) with what the step reads of it noted on the host, before it
    moves to a GPU: ``num_masked``, the positions with a label (an int; the masked-LM loss gathers them without a
    boolean index, whose size the host would read from the device), and ``full``, whether the attention mask has no
    pad position (a bool; then none is passed to the encoder). Other batches (prediction's) pass unchanged, and so do
    inputs already on a device; the step reads the facts only where present."""
    if not isinstance(batch, dict) or not batch or not batch.keys() <= {"mmlm", "tlm", "pairs"}:
        return batch
    for inputs in (batch.get("mmlm"), batch.get("tlm")):
        if not isinstance(inputs, dict):
            continue
        labels, mask = inputs.get("labels"), inputs.get("attention_mask")
        if isinstance(labels, torch.Tensor) and labels.device.type == "cpu":
            inputs["num_masked"] = int((labels != IGNORE_INDEX).sum())
        if isinstance(mask, torch.Tensor) and mask.device.type == "cpu":
            inputs["full"] = bool(mask.all())
    return batch


def _batch_size(inputs: dict) -> int:
    """Sequences in one input kind (``pairs`` count their source sides)."""
    return inputs["input_ids"].shape[0] if "input_ids" in inputs else inputs["src"]["input_ids"].shape[0]
