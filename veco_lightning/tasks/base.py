"""The base of the XTREME task modules: encoder + task head, optimizer, the zero-shot evaluation protocol, and
predictions in XTREME's submission layout."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist
from lightning import LightningModule
from transformers import PreTrainedModel, get_linear_schedule_with_warmup

from veco_lightning.hardware import check_cpu_precision
from veco_lightning.logs import progress_bar_shown
from veco_lightning.models.encoder import enable_activation_checkpointing, usable_length
from veco_lightning.optim import clip_gradients, note_parameter_shapes, schedule_length, weight_decay_groups
from veco_lightning.tasks.backbone import load_task_encoder
from veco_lightning.tasks.datamodule import TaskSet
from veco_lightning.tasks.metrics import mean_in_order

log = logging.getLogger(__name__)


class XtremeTask(LightningModule):
    """An encoder fine-tuned on one XTREME task: the base of the three task families (torchgeo's pattern).

    Validation scores the development set(s) and logs ``val/<metric>`` (the English development set by default: the
    checkpoint to keep is chosen on it); ``test`` scores every test language, logs ``test/<lang>/<metric>`` and
    ``test/avg_<metric>``, and writes ``<output_dir>/predictions/<task>/test-<lang>.<tsv|json>`` in XTREME's submission
    layout, the gold labels of labelled test files under ``<output_dir>/labels/`` (so that ``veco-xtreme score``
    scores the folder) and ``<output_dir>/scores/<task>.json``.

    Subclasses define the head (:attr:`model_class`, :meth:`head_config`), what a batch's outputs are
    (:meth:`outputs`) and how predictions are scored and written (:meth:`score`, :meth:`write`, :meth:`write_labels`).

    Args:
        encoder: an export directory, a ``veco-fit`` ``.ckpt`` file, or a local XLM-R checkpoint directory.
        task: the XTREME task name (``xnli``, ``pawsx``, ``udpos``, ``panx``, ``xquad``, ``mlqa``, ``tydiqa``): the
            metric and the file names of its predictions.
        labels: the label set of a classification or tagging task (``veco-xtreme`` links it from the datamodule;
            QA has none).
        learning_rate: peak learning rate of AdamW.
        weight_decay: decay of matrices (biases and LayerNorm weights are never decayed).
        adam_epsilon: AdamW's epsilon.
        warmup_steps: linear warm-up length in optimizer steps (a value below 1 is a fraction of the run), then
            linear decay to 0 (XTREME's baselines).
        dropout: hidden and attention dropout of the fine-tuned encoder (``None``: the encoder's own).
        output_dir: where predictions, labels and scores go (default: ``<log_dir>/xtreme``).
        activation_checkpointing: recompute each layer of the encoder in the backward pass instead of keeping its
            activations (transformers' activation checkpointing): the same gradients, for less memory and about a
            third more compute (large encoders, long QA windows, large batches on a small device).
    """

    model_class: type[PreTrainedModel]
    metric: str  # the development metric checkpoints are selected on
    metric_selects_checkpoint = True  # QA keeps the last model, as XTREME

    def __init__(
        self,
        encoder: str,
        task: str,
        labels: list[str] | None = None,
        learning_rate: float = 2e-5,
        weight_decay: float = 0.0,
        adam_epsilon: float = 1e-8,
        warmup_steps: float = 0,
        dropout: float | None = None,
        output_dir: str | None = None,
        activation_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.task = task
        self.labels = labels
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.adam_epsilon = adam_epsilon
        self.warmup_steps = warmup_steps
        self.output_dir = output_dir
        # from_pretrained returns the model in eval mode, and Lightning keeps a module's mode: train mode, so that
        # fine-tuning uses the encoder's dropout.
        self.model = load_task_encoder(encoder, self.model_class, dropout=dropout, **self.head_config()).train()
        if activation_checkpointing:  # the same gradients for less activation memory (see VecoPretrainModule)
            enable_activation_checkpointing(self.model)
        self._outputs: dict[int, dict[int, Any]] = {}
        note_parameter_shapes(self)  # before any strategy shards them: the weight-decay groups need them (FSDP)

    def head_config(self) -> dict[str, Any]:
        """Configuration of the task head (``num_labels``, ``id2label``, ...)."""
        return {}

    def setup(self, stage: str) -> None:
        note_parameter_shapes(self)  # parameters added since __init__ (the strategy wraps the model after this)
        check_cpu_precision(self._trainer)
        datamodule = getattr(self._trainer, "datamodule", None)
        positions = usable_length(self.model.config)  # XLM-R's positions start after the padding index, BERT's at 0
        if datamodule is not None and getattr(datamodule, "max_length", 0) > positions:
            raise ValueError(f"data.max_length is {datamodule.max_length} but the encoder has position embeddings for "
                             f"{positions} tokens: set data.max_length to at most {positions}")

    def forward(self, batch: dict[str, torch.Tensor]) -> Any:
        inputs = {k: v for k, v in batch.items() if k not in ("index", "word_starts")}
        if getattr(self.model.config, "type_vocab_size", 2) < 2:  # a tokenizer's segments the model has no table for
            inputs.pop("token_type_ids", None)
        return self.model(**inputs)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self(batch).loss
        self.log("train/loss", loss, batch_size=batch["input_ids"].shape[0], prog_bar=progress_bar_shown(self))
        return loss

    def outputs(self, batch: dict[str, torch.Tensor], result: Any) -> dict[int, Any]:
        """Feature index -> what :meth:`TaskSet.decode` needs (a label id, a list of word label ids, span logits)."""
        raise NotImplementedError

    def score(self, dataset: TaskSet, predictions: Any) -> dict[str, float]:
        """The task's metrics of one language, XTREME's arithmetic (percentages)."""
        raise NotImplementedError

    def write(self, path: str, predictions: Any) -> None:
        """Write one language's predictions in XTREME's submission layout."""
        raise NotImplementedError

    def write_labels(self, path: str, dataset: TaskSet) -> None:
        """Write the gold labels of a labelled test file in XTREME's label layout (what ``veco-xtreme score`` reads)."""
        raise NotImplementedError

    def decode_options(self) -> dict[str, Any]:
        """Options of :meth:`TaskSet.decode` that belong to the model (QA: the longest answer)."""
        return {}

    suffix = "tsv"

    # Evaluation: outputs are kept per dataloader and feature, decoded and scored at the end of the epoch.

    def _collect(self, batch: dict[str, torch.Tensor], dataloader_idx: int) -> None:
        batch = {k: v for k, v in batch.items() if k not in ("labels", "start_positions", "end_positions")}
        with torch.no_grad():
            self._outputs.setdefault(dataloader_idx, {}).update(self.outputs(batch, self(batch)))

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._collect(batch, dataloader_idx)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int, dataloader_idx: int = 0) -> None:
        self._collect(batch, dataloader_idx)

    def _gathered(self) -> dict[int, dict[int, Any]]:
        """Outputs of every rank (a distributed sampler gives each rank a share of the features)."""
        outputs, self._outputs = self._outputs, {}
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            parts: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(parts, outputs)
            outputs = {}
            for part in parts:
                for idx, found in part.items():
                    outputs.setdefault(idx, {}).update(found)
        return outputs

    def _datasets(self, loaders: Any) -> list[TaskSet]:
        return [loader.dataset for loader in (loaders if isinstance(loaders, Sequence) else [loaders])]

    def _evaluate(self, loaders: Any) -> dict[str, dict[str, float]]:
        outputs = self._gathered()
        if self.trainer.sanity_checking:  # a few batches only: nothing to score
            return {}
        results = {}
        for idx, dataset in enumerate(self._datasets(loaders)):
            if dataset.references is None or idx not in outputs:
                continue
            if len(outputs[idx]) < len(dataset):  # limit_val_batches: score only whole sets
                log.warning("Validation saw %d of the %d inputs of %s (trainer.limit_val_batches): not scored",
                            len(outputs[idx]), len(dataset), dataset.path)
                continue
            results[dataset.language] = self.score(dataset, dataset.decode(outputs[idx], **self.decode_options()))
        return results

    def on_validation_epoch_end(self) -> None:
        results = self._evaluate(self.trainer.val_dataloaders)
        if not results:
            return
        for name in next(iter(results.values())):
            average = mean_in_order(r[name] for r in results.values())
            self.log(f"val/{name}", average, prog_bar=name == self.metric, sync_dist=False)

    def on_test_epoch_end(self) -> None:
        outputs = self._gathered()
        out_dir = self.output_dir or os.path.join(self.trainer.log_dir or self.trainer.default_root_dir, "xtreme")
        scores: dict[str, dict[str, float]] = {}
        scored: dict[str, TaskSet] = {}
        unscored, cut, written = [], [], set()
        for idx, dataset in enumerate(self._datasets(self.trainer.test_dataloaders)):
            if idx not in outputs:
                continue
            if len(outputs[idx]) < len(dataset):  # limit_test_batches: a prediction file needs every example
                log.warning("Test saw %d of the %d inputs of %s (trainer.limit_test_batches): no predictions written, "
                            "not scored", len(outputs[idx]), len(dataset), dataset.path)
                cut.append(dataset.language)
                continue
            predictions = dataset.decode(outputs[idx], **self.decode_options())
            if self.trainer.is_global_zero:
                name = f"test-{dataset.language}.{self.suffix}"
                self.write(os.path.join(out_dir, "predictions", self.task, name), predictions)
                written.add(name)
                if dataset.references is not None:
                    self.write_labels(os.path.join(out_dir, "labels", self.task, name), dataset)
                else:
                    unscored.append(dataset.language)
            if dataset.references is not None:
                scores[dataset.language] = self.score(dataset, predictions)
                scored[dataset.language] = dataset
                for key, value in scores[dataset.language].items():
                    self.log(f"test/{dataset.language}/{key}", value, rank_zero_only=True)
        if scores:
            averages = self.averages(scores, scored)
            for key, value in averages.items():
                self.log(f"test/{key}", value, rank_zero_only=True)
            if self.trainer.is_global_zero:
                os.makedirs(os.path.join(out_dir, "scores"), exist_ok=True)
                with open(os.path.join(out_dir, "scores", f"{self.task}.json"), "w", encoding="utf-8") as handle:
                    json.dump({"task": self.task, "languages": scores, **averages}, handle, indent=1)
                print(_table(self.task, scores, averages))
        folder = os.path.join(out_dir, "predictions", self.task)
        if self.trainer.is_global_zero and os.path.isdir(folder):
            earlier = sorted(set(os.listdir(folder)) - written)
            if earlier:  # veco-xtreme score would score them with this run's files as one submission
                log.warning("%s also holds %s, written by an earlier run (another encoder, perhaps), not by this one: "
                            "`veco-xtreme score` of %s scores them with this run's predictions; remove them, or give "
                            "this run another model.output_dir", folder, ", ".join(earlier), out_dir)
        if cut and self.trainer.is_global_zero:
            print(f"{self.task}: test sets cut short by trainer.limit_test_batches, neither written nor scored "
                  f"(XTREME's predictions and scores need every example): {', '.join(cut)}")
        if unscored and self.trainer.is_global_zero:  # so that a language missing from the table is explained
            print(f"{self.task}: predicted but not scored (test files without gold labels): {', '.join(unscored)}; the "
                  f"predictions are in {os.path.join(out_dir, 'predictions', self.task)}")

    def averages(self, scores: dict[str, dict[str, float]], datasets: dict[str, TaskSet]) -> dict[str, float]:
        """The test averages logged as ``test/<name>``: ``avg_<metric>``, the mean over every scored test set."""
        return mean_scores(scores, "avg_")

    def configure_gradient_clipping(self, optimizer: torch.optim.Optimizer, gradient_clip_val: float | None = None,
                                    gradient_clip_algorithm: str | None = None) -> None:
        """Under FSDP by the norm of the whole gradient (:func:`~veco_lightning.optim.clip_gradients`; Lightning
        refuses norm clipping there); elsewhere by Lightning."""
        if not clip_gradients(self.trainer, optimizer, gradient_clip_val, gradient_clip_algorithm):
            super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)

    def configure_optimizers(self) -> dict[str, Any]:
        groups = weight_decay_groups(self, self.weight_decay)  # LayerNorm weights are 1-D
        optimizer = torch.optim.AdamW(groups, lr=self.learning_rate, eps=self.adam_epsilon)
        total = schedule_length(self.trainer)
        if not math.isfinite(total):
            raise ValueError("The learning-rate schedule needs a length: set trainer.max_epochs or max_steps")
        warmup = int(self.warmup_steps * total) if self.warmup_steps < 1 else int(self.warmup_steps)
        schedule = get_linear_schedule_with_warmup(optimizer, warmup, int(total))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


def mean_scores(scores: dict[str, dict[str, float]], prefix: str) -> dict[str, float]:
    """``<prefix><metric>``: each metric's mean over the sets of ``scores`` (none when it is empty)."""
    if not scores:
        return {}
    return {f"{prefix}{key}": mean_in_order(s[key] for s in scores.values()) for key in next(iter(scores.values()))}


# The averages' rows in the printed table, by the prefix of their names.
AVERAGE_ROWS = {"avg_": "**average**", "gxlt_avg_": "**average, every context-question pair (G-XLT)**"}


def _table(task: str, scores: dict[str, dict[str, float]], averages: dict[str, float]) -> str:
    keys = list(next(iter(scores.values())))
    lines = [f"### {task}", "", "| language | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]
    lines += [f"| {lang} | " + " | ".join(f"{s[k]:.2f}" for k in keys) + " |" for lang, s in scores.items()]
    lines += [f"| {row} | " + " | ".join(f"{averages[prefix + k]:.2f}" for k in keys) + " |"
              for prefix, row in AVERAGE_ROWS.items() if f"{prefix}{keys[0]}" in averages]
    return "\n".join(lines)
