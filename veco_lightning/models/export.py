"""Export the trained encoder as a standard Hugging Face ``XLMRobertaForMaskedLM`` directory.

``veco-export --checkpoint run/checkpoints/last.ckpt --output_dir my-encoder`` turns any full-state checkpoint of
:class:`~veco_lightning.module.VecoPretrainModule` into a directory that ``AutoModel``,
``AutoModelForMaskedLM``, ``AutoTokenizer`` and sentence-transformers load. The ``ExportPretrained`` callback does
the same at the end of ``fit``.
"""

from __future__ import annotations

import logging
import os

import torch
from lightning import Callback, LightningModule, Trainer
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from veco_lightning.data.tokenizer import load_tokenizer

log = logging.getLogger(__name__)

_MODEL_PREFIX = "model."


def export_pretrained(
    model: PreTrainedModel,
    output_dir: str,
    tokenizer: PreTrainedTokenizerBase | None = None,
    state_dict: dict[str, torch.Tensor] | None = None,
) -> str:
    """Write ``model`` (optionally with a consolidated ``state_dict`` gathered from sharded training) and the
    tokenizer with ``save_pretrained``."""
    if state_dict is not None:
        weights = {k[len(_MODEL_PREFIX) :]: v for k, v in state_dict.items() if k.startswith(_MODEL_PREFIX)}
        model = type(model)(model.config)
        model.load_state_dict(weights)
    os.makedirs(output_dir, exist_ok=True)
    model.save_pretrained(output_dir)
    if tokenizer is not None:
        tokenizer.save_pretrained(output_dir)
    return output_dir


class ExportPretrained(Callback):
    """At the end of ``fit``, write the encoder and tokenizer with ``save_pretrained``.

    Works under DDP, FSDP and DeepSpeed: the full state dict is gathered through the strategy (a collective call
    on every rank), then rank 0 writes it.

    Args:
        dirpath: output directory (default: ``<log_dir>/hf_model``).
        enabled: set to false to skip the export.
    """

    def __init__(self, dirpath: str | None = None, enabled: bool = True) -> None:
        self.dirpath = dirpath
        self.enabled = enabled

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.enabled:
            return
        state_dict = trainer.strategy.lightning_module_state_dict()  # collective under FSDP / DeepSpeed
        if trainer.is_global_zero:
            path = self.dirpath or os.path.join(trainer.log_dir or trainer.default_root_dir, "hf_model")
            datamodule = getattr(trainer, "datamodule", None)
            tokenizer = getattr(datamodule, "tokenizer", None)
            if tokenizer is None and pl_module.hparams.get("tokenizer"):
                tokenizer = load_tokenizer(pl_module.hparams["tokenizer"])
            export_pretrained(pl_module.model, path, tokenizer, state_dict)
            print(f"Exported the encoder and tokenizer to {os.path.abspath(path)}")
        trainer.strategy.barrier("export_pretrained")


def export_checkpoint(checkpoint: str, output_dir: str, tokenizer: str | None = None) -> str:
    """Export a ``VecoPretrainModule`` checkpoint (full state dict) to a Hugging Face directory.

    Args:
        checkpoint: path to a ``.ckpt`` file written by ``veco-fit``.
        output_dir: where to write the model and tokenizer.
        tokenizer: tokenizer directory; defaults to the one recorded in the checkpoint's hyper-parameters.
    """
    from veco_lightning.module import VecoPretrainModule

    module = VecoPretrainModule.load_from_checkpoint(checkpoint, map_location="cpu", weights_only=False)
    tokenizer = tokenizer or module.hparams.get("tokenizer")
    if tokenizer is None:
        log.warning("No tokenizer recorded in %s and none given: exporting the model only", checkpoint)
    export_pretrained(module.model, output_dir, load_tokenizer(tokenizer) if tokenizer else None)
    print(f"Exported {checkpoint} to {os.path.abspath(output_dir)}")
    return output_dir


def main(args: list[str] | None = None) -> None:
    """Console entry point ``veco-export``."""
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(prog="veco-export", description="Export a veco-fit checkpoint as a Hugging Face model.")
    parser.add_function_arguments(export_checkpoint, as_positional=False)
    export_checkpoint(**parser.parse_args(args).as_dict())
