"""The encoder a task starts from: an export directory, a pre-training checkpoint, or any local (or hub) Hugging Face
encoder checkpoint (XLM-R, multilingual BERT, mDeBERTa, ...), loaded under a task head (the ``AutoModelFor...`` class
of its architecture; ``XLMRobertaFor{SequenceClassification,TokenClassification,QuestionAnswering}`` for a
``veco-fit`` checkpoint), together with its tokenizer."""

from __future__ import annotations

import logging
import os
from typing import Any

import transformers
from transformers import AutoConfig, PreTrainedModel

from veco_lightning.checkpointing import (
    check_pretraining_checkpoint,
    check_recorded_path,
    is_checkpoint,
    read_checkpoint,
    tokenizer_of,
)
from veco_lightning.models.encoder import (
    EncoderSpec,
    bare_trunk_keys,
    check_trunk_loaded,
    hub_errors,
    mismatched_keys,
    preset_config,
)
from veco_lightning.paths import looks_local, model_dir, resolve_path

log = logging.getLogger(__name__)

__all__ = ["is_checkpoint", "load_task_encoder", "read_checkpoint", "tokenizer_of"]

_ENCODER_PREFIX = "model.roberta."  # where VecoPretrainModule keeps the trunk in its state dict


def load_task_encoder(encoder: str, model_class: type[PreTrainedModel], dropout: float | None = None,
                      **config: Any) -> PreTrainedModel:
    """The encoder's task model (``model_class`` for a ``veco-fit`` checkpoint, the same head of the checkpoint's own
    architecture for a Hugging Face one) with the encoder's weights and a new task head.

    Args:
        encoder: an export directory or local Hugging Face checkpoint (``config.json`` + weights), a ``veco-fit``
            ``.ckpt`` file, or a hub name (needs network or a local hub cache).
        model_class: the XLM-R task model class (e.g. ``XLMRobertaForTokenClassification``); its head names the
            ``AutoModelFor...`` class a Hugging Face checkpoint is loaded with.
        dropout: the encoder's dropout probability (:func:`set_encoder_dropout`; ``None``: the checkpoint's own).
        **config: settings of the task head (``num_labels``, ``id2label``...).
    """
    encoder = model_dir(resolve_path(encoder))  # ~ and pkg:// as in the data paths
    if is_checkpoint(encoder):
        checkpoint = read_checkpoint(encoder)
        hparams = checkpoint.get("hyper_parameters", {})
        check_pretraining_checkpoint(encoder, hparams, "fine-tuned from (model.encoder)")
        spec = EncoderSpec(**hparams.get("encoder") or {})
        if spec.path is not None:
            check_recorded_path(encoder, "encoder.path (the model it continued)", spec.path,
                                "export the checkpoint with veco-export from there and use the export")
            base = AutoConfig.from_pretrained(resolve_path(spec.path), **spec.overrides)
            base.vocab_size = max(base.vocab_size, hparams.get("vocab_size") or 0)
        else:
            base = preset_config(spec.preset, hparams["vocab_size"], hparams.get("pad_token_id", 1), spec.max_length,
                                 **spec.overrides)
        base.update(config)
        set_encoder_dropout(base, dropout)
        model = model_class(base)
        weights = {k[len(_ENCODER_PREFIX):]: v for k, v in checkpoint["state_dict"].items()
                   if k.startswith(_ENCODER_PREFIX)}
        missing, unexpected = model.roberta.load_state_dict(weights, strict=False)
        if missing or unexpected:
            raise ValueError(f"{encoder}: the checkpoint's encoder does not match {model_class.__name__} "
                             f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
        log.info("Loaded the encoder of %s (%s) under %s", encoder, spec, model_class.__name__)
        return model
    if looks_local(encoder) and not os.path.exists(encoder):
        raise FileNotFoundError(f"Encoder {encoder!r} does not exist: give an export directory (veco-export), a "
                                "veco-fit .ckpt file or a Hugging Face checkpoint directory")
    # The Auto class of the task head, so that the checkpoint's own architecture is built: XLMRobertaFor... would
    # take a BERT or DeBERTa checkpoint's weights for another model's and start from a random encoder.
    head = "For" + model_class.__name__.split("For", 1)[1]  # ForTokenClassification
    auto_class = getattr(transformers, "AutoModel" + head)
    with hub_errors(encoder, "model.encoder"):
        base = AutoConfig.from_pretrained(encoder)
        if type(base) not in auto_class._model_mapping:  # transformers' own error lists every model type it has
            raise ValueError(f"model.encoder {encoder!r} is a {base.model_type} checkpoint, and transformers has no "
                             f"{base.model_type} class with a {head[3:]} head (AutoModel{head}): this task cannot "
                             "fine-tune it")
        trained_head = any(a.endswith(head) for a in base.architectures or [])  # a fine-tuned model of this head
        trained_labels = dict(base.id2label)
        base.update(config)
        set_encoder_dropout(base, dropout)
        # Sizes may differ in the task head only (another task's label count): it starts anew; checked below.
        model, info = auto_class.from_pretrained(encoder, config=base, output_loading_info=True,
                                                 ignore_mismatched_sizes=True)
    check_trunk_loaded(model, [*info["missing_keys"], *mismatched_keys(info)], encoder)
    if trained_head and "id2label" in config and trained_labels != model.config.id2label:
        reset_task_head(model, auto_class)
        log.info("%s was fine-tuned for other labels (%s): its task head starts anew for %s", encoder,
                 ", ".join(trained_labels.values()), ", ".join(model.config.id2label.values()))
    elif trained_head:
        log.info("%s holds a fine-tuned %s head for these labels, which is kept", encoder, type(model).__name__)
    return model


def reset_task_head(model: PreTrainedModel, auto_class: type) -> None:
    """Give ``model``'s task head (every part but the encoder) the initial values of a new model of its class: a
    checkpoint fine-tuned on another label set keeps its encoder and none of its head."""
    fresh = auto_class.from_config(model.config)
    trunk = bare_trunk_keys(model.config) if model.base_model is model else None  # mT5: the trunk at the top level
    for name, child in model.named_children():
        if name == model.base_model_prefix or (trunk is not None and any(k.startswith(name + ".") for k in trunk)):
            continue
        child.load_state_dict(getattr(fresh, name).state_dict())


# Configuration names of a task head's own dropout (BERT's classifier_dropout, DistilBERT's seq_classif_dropout and
# qa_dropout, XLNet's summary_last_dropout...): the task head keeps them; every other dropout setting is the encoder's.
_HEAD_DROPOUT = ("classif", "qa_", "summary", "pooler", "head")


def set_encoder_dropout(config: transformers.PretrainedConfig, dropout: float | None) -> None:
    """Set every dropout probability of the encoder in ``config``, under the names its architecture uses (BERT and
    XLM-R: ``hidden_dropout_prob`` and ``attention_probs_dropout_prob``; DistilBERT and XLM: ``dropout`` and
    ``attention_dropout``; T5: ``dropout_rate``...). A head that takes its dropout from the encoder's (XLM-R and BERT
    with ``classifier_dropout: null``) follows it. Unknown names would be stored on the configuration and read by no
    layer, so an architecture without any is an error rather than a run with the checkpoint's dropout."""
    if dropout is None:
        return
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"model.dropout is {dropout}: a probability in [0, 1) is expected")
    names = [name for name, value in config.to_dict().items()
             if name.endswith(("dropout", "dropout_prob", "dropout_rate")) and not any(h in name for h in _HEAD_DROPOUT)
             and isinstance(value, (int, float)) and not isinstance(value, bool)]
    if not names:
        raise ValueError(f"model.dropout: the {config.model_type} configuration has no dropout setting this option "
                         "knows; leave model.dropout unset (the checkpoint's own dropout) or set it in the "
                         "checkpoint's config.json")
    for name in names:
        setattr(config, name, dropout)
    log.info("Encoder dropout %s: %s", dropout, ", ".join(sorted(names)))
