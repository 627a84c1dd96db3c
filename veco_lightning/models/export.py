"""Export the trained encoder as a standard Hugging Face ``XLMRobertaForMaskedLM`` directory.

``veco-export --checkpoint run/checkpoints/last.ckpt --output_dir my-encoder`` turns any checkpoint of
:class:`~veco_lightning.module.VecoPretrainModule` (a file, or the directory of shards that FSDP with a sharded
state dict and DeepSpeed write, merged first by :mod:`~veco_lightning.models.consolidate`) into a directory that
``AutoModel``, ``AutoModelForMaskedLM``, ``AutoTokenizer`` (transformers 4.50 on) and sentence-transformers load. The
``ExportPretrained`` callback does the same at the end of ``fit``. Next to the weights and the tokenizer (with its
``model_max_length``, so that ``truncation=True`` cuts where the position table ends) the directory holds a
sentence-transformers configuration that embeds sentences as the project's evaluation does, and a model card.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pickle
import re
import tempfile
import zipfile
from typing import Any

import torch
import yaml
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.strategies import DeepSpeedStrategy, FSDPStrategy, Strategy
from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

from veco_lightning.checkpointing import (
    check_recorded_path,
    checkpoint_error,
    read_checkpoint,
    task_checkpoint_message,
)
from veco_lightning.data.tokenizer import load_tokenizer, save_tokenizer
from veco_lightning.logs import run_log_dir
from veco_lightning.models.consolidate import consolidate_checkpoint
from veco_lightning.models.encoder import usable_length

log = logging.getLogger(__name__)

_MODEL_PREFIX = "model."
_LANGUAGE = re.compile(r"[a-z]{2,3}")  # ISO 639 codes, as the configs name languages (en, de, zh, ...)
_NOT_LANGUAGES = {"xx", "all"}  # placeholders the configs use for "other languages" and "one group"


def write_sentence_transformers_config(output_dir: str, config: PretrainedConfig, pooling: str = "mean",
                                       layer: int = -1) -> int:
    """Write ``modules.json``, ``sentence_bert_config.json`` and ``1_Pooling/config.json`` so that
    ``SentenceTransformer(output_dir)`` embeds as the evaluation does: ``pool_sentences`` (mask-aware ``mean`` with
    the special tokens, or ``cls``) of hidden layer ``layer`` (``select_layer`` numbering), without normalisation.

    A layer below the top is reached by loading only the first ``layer`` transformer layers (``config_args:
    {num_hidden_layers: layer}``): XLM-R has no norm after its last layer, so the truncated encoder's output is
    exactly hidden state ``layer`` of the whole one. The pooling keys are the legacy ones, which every
    sentence-transformers version reads; ``config_args`` (a layer below the top only) needs 3.0 or later, and
    older versions refuse the file rather than embed differently.

    Returns:
        The number of transformer layers sentence-transformers loads.
    """
    if pooling not in ("mean", "cls"):
        raise ValueError(f"Unknown pooling {pooling!r}: use 'mean' or 'cls'")
    total = config.num_hidden_layers
    if not -(total + 1) <= layer <= total:
        raise ValueError(f"layer={layer} but the encoder has {total} layers (valid: 0..{total}, or -1..-{total + 1})")
    depth = layer % (total + 1)  # hidden state index: 0 the embeddings, total the last layer
    sbert: dict[str, Any] = {"max_seq_length": usable_length(config), "do_lower_case": False}
    if depth != total:
        sbert["config_args"] = {"num_hidden_layers": depth}
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
               {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}]
    pooling_config = {"word_embedding_dimension": config.hidden_size, "pooling_mode_cls_token": pooling == "cls",
                      "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_max_tokens": False,
                      "pooling_mode_mean_sqrt_len_tokens": False}
    os.makedirs(os.path.join(output_dir, "1_Pooling"), exist_ok=True)
    for name, content in (("modules.json", modules), ("sentence_bert_config.json", sbert),
                          (os.path.join("1_Pooling", "config.json"), pooling_config)):
        with open(os.path.join(output_dir, name), "w", encoding="utf-8") as handle:
            json.dump(content, handle, indent=2)
    if depth != total:
        log.info("sentence-transformers loads the first %d of the %d layers of %s: the evaluation reads layer %d",
                 depth, total, output_dir, layer)
    return depth


def export_pretrained(
    model: PreTrainedModel,
    output_dir: str,
    tokenizer: PreTrainedTokenizerBase | None = None,
    state_dict: dict[str, torch.Tensor] | None = None,
    *,
    pooling: str = "mean",
    layer: int = -1,
    run_config: str | None = None,
    results: str | None = None,
) -> str:
    """Write ``model`` (optionally with a consolidated ``state_dict`` gathered from sharded training), the tokenizer,
    a sentence-transformers configuration and a model card (``README.md``).

    Args:
        pooling: sentence pooling of the project's evaluation (``model.evaluation.pooling``).
        layer: hidden layer of the project's evaluation (``model.evaluation.layer``).
        run_config: the run's configuration (YAML text) for the model card.
        results: an evaluation report (``results.md``) whose tables go into the model card.
    """
    model = _weights_to_export(model, state_dict, output_dir)
    os.makedirs(output_dir, exist_ok=True)
    depth = None
    if tokenizer is not None:  # first: it checks pooling and layer before anything heavy is written
        depth = write_sentence_transformers_config(output_dir, model.config, pooling, layer)
        save_tokenizer(tokenizer, output_dir, model_max_length=usable_length(model.config))
    _remove_weights(output_dir)
    model.save_pretrained(output_dir)
    card = model_card(model, output_dir, pooling, layer, depth, run_config, results)
    with open(os.path.join(output_dir, "README.md"), "w", encoding="utf-8") as handle:
        handle.write(card)
    return output_dir


# The weight files save_pretrained writes: whole (safetensors, or a torch pickle of older versions), or sharded with an
# index beside the shards.
_WEIGHTS = re.compile(r"(model|pytorch_model)(-\d{5}-of-\d{5})?\.(safetensors|bin)(\.index\.json)?")


def _weights_to_export(model: PreTrainedModel, state_dict: dict[str, torch.Tensor] | None,
                       output_dir: str) -> PreTrainedModel:
    """``model``, or a copy of it holding the ``model.`` entries of a module's ``state_dict``; refused when a weight
    is not finite."""
    if state_dict is not None:
        weights = {k[len(_MODEL_PREFIX) :]: v for k, v in state_dict.items() if k.startswith(_MODEL_PREFIX)}
        model = type(model)(model.config)
        model.load_state_dict(weights)
    broken = next((name for name, value in model.state_dict().items()
                   if value.is_floating_point() and not torch.isfinite(value).all()), None)
    if broken is not None:
        raise ValueError(f"Refusing to export to {output_dir}: parameter {broken} holds NaN or infinite values (the "
                         "run diverged). Resume from an earlier checkpoint with a lower learning rate")
    return model


def export_task_model(model: PreTrainedModel, output_dir: str, tokenizer: PreTrainedTokenizerBase | None = None,
                      state_dict: dict[str, torch.Tensor] | None = None) -> str:
    """Write a fine-tuned task model (``...ForTokenClassification``, ``...ForSequenceClassification``,
    ``...ForQuestionAnswering``, with its label names) and its tokenizer, for ``AutoModelFor...`` and transformers'
    ``pipeline``; ``state_dict``: a task module's weights (the checkpoint the task kept) to write instead of
    ``model``'s own."""
    model = _weights_to_export(model, state_dict, output_dir)
    os.makedirs(output_dir, exist_ok=True)
    if tokenizer is not None:
        save_tokenizer(tokenizer, output_dir, model_max_length=usable_length(model.config))
    _remove_weights(output_dir)
    model.save_pretrained(output_dir)
    return output_dir


def _remove_weights(output_dir: str) -> None:
    """Delete the weights an earlier export left in ``output_dir``. ``save_pretrained`` replaces its own files but
    removes only old shards: a sharded model (XL, over 5 GB) written over a whole one leaves the old
    ``model.safetensors`` beside the new shards, and ``from_pretrained`` loads that one, the old model, without a
    word."""
    stale = sorted(name for name in os.listdir(output_dir)
                   if _WEIGHTS.fullmatch(name) and os.path.isfile(os.path.join(output_dir, name)))
    for name in stale:
        os.remove(os.path.join(output_dir, name))
    if stale:
        log.info("Export to %s: removed the weights of an earlier export (%s)", output_dir, ", ".join(stale))


def model_card(model: PreTrainedModel, output_dir: str, pooling: str, layer: int, depth: int | None,
               run_config: str | None, results: str | None) -> str:
    """The ``README.md`` of an export: what the model is, how to load it, how it was trained and scored."""
    config = model.config
    languages = _languages(run_config)
    front = {"library_name": "transformers", "pipeline_tag": "fill-mask",
             "tags": ["xlm-roberta", "fill-mask", "sentence-transformers", "feature-extraction", "veco_lightning"]}
    if languages:
        front["language"] = languages
    params = sum(p.numel() for p in model.parameters())
    path = output_dir.rstrip("/")
    parts = [
        f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n",
        f"# {os.path.basename(os.path.abspath(path))}\n",
        "A cross-lingual encoder pre-trained with veco_lightning (the VECO 2.0 recipe: multilingual and translation "
        "masked LM, sequence- and token-level contrast on translation pairs, as the run's configuration below "
        f"selects). It is a standard `{type(model).__name__}` (XLM-R architecture): {config.num_hidden_layers} "
        f"layers, hidden size {config.hidden_size}, {config.num_attention_heads} attention heads, feed-forward "
        f"{config.intermediate_size}, {params / 1e6:.1f}M parameters, a vocabulary of {config.vocab_size} tokens, "
        f"inputs of up to {usable_length(config)} tokens.\n",
    ]
    if languages:
        parts.append(f"Languages of the training data: {', '.join(languages)}.\n")
    parts.append("## Use\n")
    parts.append(f'```python\nfrom transformers import pipeline\n\nfill = pipeline("fill-mask", model="{path}")\n'
                 'fill("My brother lives in <mask>.")\n```\n')
    if depth is None:
        parts.append("The export has no tokenizer, so no sentence-transformers configuration either.\n")
    else:
        what = "the mean of the token states (padding left out, `<s>` and `</s>` included)" if pooling == "mean" \
            else "the state of `<s>`"
        parts.append(f'```python\nfrom sentence_transformers import SentenceTransformer\n\nmodel = SentenceTransformer'
                     f'("{path}")\nembeddings = model.encode(["A sentence.", "Ein Satz."])\n```\n')
        parts.append(f"The sentence embedding is {what} of hidden layer {layer} (`pooling: {pooling}`, `layer: "
                     f"{layer}`), not normalised: the vectors the project's evaluation scores (by cosine "
                     "similarity or ratio margin).\n")
        if depth != config.num_hidden_layers:
            parts.append(f"That layer lies below the top, so sentence-transformers loads only the first {depth} of "
                         f"the {config.num_hidden_layers} layers (`config_args` in `sentence_bert_config.json`; "
                         "transformers warns that the other layers' weights are not used): its output is that "
                         "layer. `AutoModel` and `AutoModelForMaskedLM` load the whole encoder.\n")
    parts.append("## Training\n")
    if run_config:
        parts.append(f"<details><summary>The run's configuration</summary>\n\n```yaml\n{run_config.rstrip()}\n```\n"
                     "\n</details>\n")
    else:
        parts.append("The run's configuration is not known.\n")
    parts.append("## Evaluation\n")
    parts.append(_results_section(results, pooling, layer))
    return "\n".join(parts)


def _results_section(results: str | None, pooling: str, layer: int) -> str:
    """The tables of an evaluation report, or a line saying how to make one."""
    if results is None or not os.path.isfile(results):
        return ("No evaluation report was found with the run. `veco-fit test` writes one (`results.md`), and "
                "`veco-export --results` puts it here.\n")
    with open(results, encoding="utf-8") as handle:
        tables = handle.read()
    tables = re.sub(r"\A# [^\n]*\n+", "", tables)  # the report's own title
    note = ""
    report = os.path.join(os.path.dirname(results), "results.json")
    if os.path.isfile(report):
        with open(report, encoding="utf-8") as handle:
            measured = json.load(handle).get("metadata", {})
        if (measured.get("pooling"), measured.get("layer")) not in ((pooling, str(layer)), (None, None)):
            note = (f"\nThese scores were measured with pooling {measured.get('pooling')} of layer "
                    f"{measured.get('layer')}, not with the embedding configured above.\n")
    return f"From `{os.path.abspath(results)}`:\n\n{tables.rstrip()}\n{note}"


def _languages(run_config: str | None) -> list[str]:
    """The languages the run's data names (``data.monolingual.files`` keys, ``data.parallel.files`` pairs)."""
    try:
        data = (yaml.safe_load(run_config) or {}).get("data") if run_config else None
    except yaml.YAMLError:
        return []
    found: set[str] = set()
    for source in ("monolingual", "parallel", "synonym"):
        files = (data or {}).get(source) or {}
        files = files.get("files") if isinstance(files, dict) else None
        if isinstance(files, dict):
            found.update(code for key in files for code in str(key).split("-")
                         if _LANGUAGE.fullmatch(code) and code not in _NOT_LANGUAGES)
    return sorted(found)


def _plain(value: Any) -> Any:
    """Hyper-parameters as YAML-safe values (option dataclasses become mappings)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def _run_details(module: LightningModule, log_dir: str | None) -> tuple[str, str, int, str | None]:
    """``(run configuration, pooling, layer, evaluation report)`` of a module: the evaluation options it scores with,
    the run's ``config.yaml`` (else the module's hyper-parameters) and the newest ``results.md`` of the run."""
    options = getattr(getattr(module, "scorer", None), "options", None) or module.hparams.get("evaluation") or {}
    setting = options.get if isinstance(options, dict) else lambda name, default: getattr(options, name, default)
    candidates = [os.path.join(directory, "results.md") for directory in
                  (setting("report_dir", None), log_dir and os.path.join(log_dir, "eval")) if directory]
    found = [path for path in candidates if os.path.isfile(path)]
    results = max(found, key=os.path.getmtime) if found else None
    config_path = os.path.join(log_dir, "config.yaml") if log_dir else None
    if config_path and os.path.isfile(config_path):
        with open(config_path, encoding="utf-8") as handle:
            run_config = handle.read()
    else:
        run_config = yaml.safe_dump(_plain(dict(module.hparams)), sort_keys=False, allow_unicode=True)
    return run_config, setting("pooling", "mean"), setting("layer", -1), results


def full_state_dict(strategy: Strategy) -> dict[str, torch.Tensor] | None:
    """The module's whole state dict on rank 0 (other ranks may get nothing): a collective that every rank calls.

    ``lightning_module_state_dict`` would hand over shards where checkpoints are sharded, so FSDP gathers its full
    state dict whatever ``state_dict_type`` its checkpoints use, and DeepSpeed ZeRO-3 its partitioned parameters (one
    module at a time, in the training dtype, as DeepSpeed's ``save_16bit_model``). DDP and ZeRO-2 keep whole weights
    on every rank.
    """
    if isinstance(strategy, FSDPStrategy):
        from torch.distributed.fsdp import FullStateDictConfig, StateDictType
        from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

        # Offload to the CPU (and keep it on rank 0 only) when the shards live on an accelerator, as Lightning does;
        # shards already on the CPU stay where they are (FSDP's offload crashes there).
        on_accelerator = next(strategy.model.parameters()).device.type != "cpu"
        config = FullStateDictConfig(offload_to_cpu=on_accelerator, rank0_only=on_accelerator)
        with FSDP.state_dict_type(strategy.model, StateDictType.FULL_STATE_DICT, config):
            return strategy.model.state_dict()
    if isinstance(strategy, DeepSpeedStrategy) and strategy.zero_stage_3:
        return strategy.deepspeed_engine._zero3_consolidated_16bit_state_dict()
    return strategy.lightning_module_state_dict()


class ExportPretrained(Callback):
    """At the end of ``fit``, write the encoder and tokenizer with ``save_pretrained``, a sentence-transformers
    configuration (the module's evaluation pooling and layer) and a model card.

    Works under DDP, FSDP and DeepSpeed: the full state dict is gathered (:func:`full_state_dict`, a collective call
    on every rank), then rank 0 writes it.

    Args:
        dirpath: output directory (default: ``<log_dir>/hf_model``).
        enabled: set to false to skip the export.
    """

    def __init__(self, dirpath: str | None = None, enabled: bool = True) -> None:
        self.dirpath = dirpath
        self.enabled = enabled
        self.exported_to: str | None = None  # set on rank 0 after the export, for the run summary

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.enabled:
            return
        state_dict = full_state_dict(trainer.strategy)  # collective under FSDP / DeepSpeed ZeRO-3
        if trainer.is_global_zero:
            log_dir = run_log_dir(trainer)  # not trainer.log_dir: a collective, and only rank 0 is here
            path = self.dirpath or os.path.join(log_dir, "hf_model")
            datamodule = getattr(trainer, "datamodule", None)
            tokenizer = getattr(datamodule, "tokenizer", None)
            if tokenizer is None and pl_module.hparams.get("tokenizer"):
                tokenizer = load_tokenizer(pl_module.hparams["tokenizer"])
            run_config, pooling, layer, results = _run_details(pl_module, log_dir)
            export_pretrained(pl_module.model, path, tokenizer, state_dict, pooling=pooling, layer=layer,
                              run_config=run_config, results=results)
            self.exported_to = os.path.abspath(path)
            print(f"Exported the encoder and tokenizer to {self.exported_to}")
        trainer.strategy.barrier("export_pretrained")


def export_checkpoint(checkpoint: str, output_dir: str, tokenizer: str | None = None,
                      results: str | None = None) -> str:
    """Export a ``VecoPretrainModule`` checkpoint to a Hugging Face directory.

    Args:
        checkpoint: a ``.ckpt`` file written by ``veco-fit``, or the ``.ckpt`` directory of a sharded run (FSDP with
            ``state_dict_type: sharded``, DeepSpeed ZeRO-2/3): its shards are merged into one file under ``$TMPDIR``
            first (the space of the fp32 weights; DeepSpeed's need ``pip install deepspeed``).
        output_dir: where to write the model and tokenizer.
        tokenizer: tokenizer directory; defaults to the one recorded in the checkpoint's hyper-parameters.
        results: an evaluation report (``results.md`` of ``veco-fit test``) for the model card; defaults to the
            newest one of the checkpoint's run (``<log_dir>/eval`` or ``model.evaluation.report_dir``).
    """
    from veco_lightning.module import VecoPretrainModule

    if results is not None and not os.path.isfile(results):
        raise FileNotFoundError(f"--results {results!r} does not exist: give the results.md that veco-fit test wrote")
    if os.path.isdir(checkpoint):
        with tempfile.TemporaryDirectory(prefix="veco-export-") as scratch:
            merged = consolidate_checkpoint(checkpoint, os.path.join(scratch, "consolidated.ckpt"))
            module = VecoPretrainModule.load_from_checkpoint(merged, map_location="cpu", weights_only=True)
    else:  # tensors, plain values and the package's option classes only: no code runs on load
        try:
            module = VecoPretrainModule.load_from_checkpoint(checkpoint, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, EOFError, RuntimeError) as err:
            if isinstance(err, RuntimeError) and zipfile.is_zipfile(checkpoint):
                raise  # the file reads; the module's own loading failed
            raise ValueError(checkpoint_error(checkpoint, err)) from err
        except ValueError:  # Lightning refuses a checkpoint of another module class: say which, and what exports it
            message = task_checkpoint_message(checkpoint, read_checkpoint(checkpoint).get("hyper_parameters", {}),
                                              "exported by veco-export")
            if message:
                raise ValueError(message) from None
            raise
    if tokenizer is None and module.hparams.get("tokenizer"):
        tokenizer = module.hparams["tokenizer"]
        check_recorded_path(checkpoint, "tokenizer", tokenizer, "name the tokenizer directory (--tokenizer DIR)")
    if tokenizer is None:
        log.warning("No tokenizer recorded in %s and none given: exporting the model only", checkpoint)
    log_dir = os.path.dirname(os.path.dirname(os.path.abspath(checkpoint)))  # <log_dir>/checkpoints/x.ckpt
    run_config, pooling, layer, found = _run_details(module, log_dir)
    export_pretrained(module.model, output_dir, load_tokenizer(tokenizer) if tokenizer else None, pooling=pooling,
                      layer=layer, run_config=run_config, results=results or found)
    print(f"Exported {checkpoint} to {os.path.abspath(output_dir)}")
    return output_dir


def main(args: list[str] | None = None) -> None:
    """Console entry point ``veco-export``."""
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(prog="veco-export", description="Export a veco-fit checkpoint as a Hugging Face model.")
    parser.add_function_arguments(export_checkpoint, as_positional=False)
    export_checkpoint(**parser.parse_args(args).as_dict())
