"""Encoder presets and construction.

The encoder is a transformers ``XLMRobertaForMaskedLM``: an ``XLMRobertaModel`` trunk (no pooler) plus the
tied LM head. Holding the stock class means export is a plain ``save_pretrained`` and the result loads with
``AutoModel`` / ``AutoModelForMaskedLM`` (and so with sentence-transformers) without conversion.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForTextEncoding,
    PreTrainedModel,
    XLMRobertaConfig,
    XLMRobertaForMaskedLM,
)
from transformers.models.auto.modeling_auto import MODEL_FOR_TEXT_ENCODING_MAPPING_NAMES

from veco_lightning.models.dropout import use_fast_dropout
from veco_lightning.paths import looks_local, model_dir, offline, resolve_path

log = logging.getLogger(__name__)

# Shapes. ``large`` is XLM-R large, the shape VECO and VECO 2.0 large use. ``tiny`` and ``small`` exist for
# tests and CPU runs. The other XLM-R hyper-parameters (GELU, learned absolute positions with padding offset) are
# XLMRobertaConfig defaults, except the layer-norm eps that preset_config sets.
PRESETS: dict[str, dict[str, int]] = {
    "tiny": dict(num_hidden_layers=2, hidden_size=64, num_attention_heads=2, intermediate_size=256),
    "small": dict(num_hidden_layers=4, hidden_size=256, num_attention_heads=4, intermediate_size=1024),
    "base": dict(num_hidden_layers=12, hidden_size=768, num_attention_heads=12, intermediate_size=3072),
    "large": dict(num_hidden_layers=24, hidden_size=1024, num_attention_heads=16, intermediate_size=4096),
    "xl": dict(num_hidden_layers=36, hidden_size=2560, num_attention_heads=32, intermediate_size=10240),
}


@dataclass
class EncoderSpec:
    """Which encoder to train.

    Args:
        preset: name of a shape in ``PRESETS`` (tiny, small, base, large, xl) for pre-training from scratch.
            Ignored when ``path`` is given.
        path: a local Hugging Face checkpoint directory (or a hub name, when online) to continue
            pre-training from, e.g. an XLM-R or VECO checkpoint.
        overrides: ``XLMRobertaConfig`` fields that replace the preset's or checkpoint's values, e.g.
            ``{max_position_embeddings: 1026, hidden_dropout_prob: 0.0}``.
        attn_implementation: ``sdpa`` (default: PyTorch scaled-dot-product attention, flash kernels on GPU),
            ``eager`` or ``flash_attention_2``.
        max_length: longest sequence the encoder must accept; sets ``max_position_embeddings`` for presets
            (XLM-R reserves ``pad_token_id + 1`` extra positions).
        trust_remote_code: let ``encoder.path`` run the model code it ships (a Hugging Face option that executes
            code from the checkpoint directory or the hub). Off; set it by this name only, never in ``overrides``.
        fast_dropout: on CPU, draw the dropout masks (hidden states and, with ``sdpa``, attention probabilities)
            from 16 random bits per element (:mod:`veco_lightning.models.dropout`: about 3x faster per call, the drop
            probability rounded to a multiple of 2^-16). Off gives torch's own dropout. Other devices always use
            torch's.
    """

    preset: str | None = "tiny"
    path: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    attn_implementation: str = "sdpa"
    max_length: int = 512
    trust_remote_code: bool = False
    fast_dropout: bool = True


# Checkpoints keep an EncoderSpec in their hyper-parameters when a module is built in Python: allowed by
# torch.load(weights_only=True), which refuses every other class.
torch.serialization.add_safe_globals([EncoderSpec])


def preset_config(
    preset: str, vocab_size: int, pad_token_id: int = 1, max_length: int = 512, **overrides: Any
) -> XLMRobertaConfig:
    """An ``XLMRobertaConfig`` of a named shape for a vocabulary of ``vocab_size`` entries."""
    if preset not in PRESETS:
        raise ValueError(f"Unknown encoder preset {preset!r}: choose one of {sorted(PRESETS)} or give encoder.path")
    kwargs: dict[str, Any] = dict(
        vocab_size=vocab_size,
        pad_token_id=pad_token_id,
        bos_token_id=0,
        eos_token_id=2,
        # XLM-R position ids start at pad_token_id + 1, so max_length tokens need that many extra rows.
        max_position_embeddings=max_length + pad_token_id + 1,
        type_vocab_size=1,
        layer_norm_eps=1e-5,  # XLM-R's value; XLMRobertaConfig defaults to BERT's 1e-12
        **PRESETS[preset],
    )
    check_overrides(overrides, XLMRobertaConfig)
    kwargs.update(overrides)
    return XLMRobertaConfig(**kwargs)


# Architectures whose position ids start after the padding index (RoBERTa's scheme), not at 0 as BERT's.
PADDING_OFFSET_POSITIONS = ("xlm-roberta", "xlm-roberta-xl", "roberta", "roberta-prelayernorm", "camembert", "xmod")


TEXT_ENCODERS = MODEL_FOR_TEXT_ENCODING_MAPPING_NAMES  # model types with an encoder-only class (mt5: MT5EncoderModel)
UNBOUNDED_LENGTH = 1_000_000  # the length an encoder without position embeddings (T5's relative positions) takes


def usable_length(config: Any) -> int:
    """The longest input the encoder takes: XLM-R's (and RoBERTa's) position ids start at ``pad_token_id + 1``,
    BERT's at 0; an encoder of relative positions only (mT5) has no such bound (:data:`UNBOUNDED_LENGTH`)."""
    positions = getattr(config, "max_position_embeddings", None)
    if positions is None:
        return UNBOUNDED_LENGTH
    offset = config.pad_token_id + 1 if config.model_type in PADDING_OFFSET_POSITIONS else 0
    return positions - offset


def check_overrides(overrides: dict[str, Any], config_class: type) -> None:
    """Every key of ``encoder.overrides`` must be a field of the encoder's config class: a config takes unknown keys
    without a word (``hidden_dropout: 0.2`` would be stored and read by nothing, the dropout it meant unchanged)."""
    try:
        fields = set(vars(config_class()))
    except Exception:  # a config class that needs arguments: nothing to compare against
        return
    fields |= {name for name in dir(config_class) if isinstance(getattr(config_class, name), property)}
    fields.add("attn_implementation")  # preset_config passes encoder.attn_implementation with the overrides
    unknown = sorted(set(overrides) - fields)
    if unknown:
        hints = [f"{key} (did you mean {close[0]}?)" if (close := difflib.get_close_matches(key, fields, 1)) else key
                 for key in unknown]
        raise ValueError(f"encoder.overrides: {', '.join(hints)} is not a field of {config_class.__name__}; the "
                         f"overrides replace its fields, e.g. hidden_dropout_prob, attention_probs_dropout_prob, "
                         f"max_position_embeddings")


def enable_activation_checkpointing(model: nn.Module) -> None:
    """Recompute each transformer layer in the backward pass (transformers' activation checkpointing, with torch's
    non-reentrant checkpoint: keyword arguments such as the packed rows pass through, and the random state is replayed
    so that dropout draws the same masks)."""
    options = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):  # transformers 5
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=options)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=options)


def build_encoder(spec: EncoderSpec, vocab_size: int | None = None,
                  pad_token_id: int = 1) -> XLMRobertaForMaskedLM | EncoderForEvaluation:
    """Build a fresh preset encoder, or load one for continued pre-training or evaluation: a Hugging Face directory
    (an export, XLM-R) or a ``veco-fit`` ``.ckpt`` file (its own shape and weights, read with ``weights_only``). A
    Hugging Face encoder of another architecture (multilingual BERT) is loaded to be evaluated only
    (:class:`EncoderForEvaluation`).

    When the tokenizer has more entries than a loaded checkpoint's embedding matrix, the embeddings are
    resized (new rows initialised as transformers does) and a warning says so. With ``spec.fast_dropout`` its
    dropouts draw cheaper masks on CPU (:func:`~veco_lightning.models.dropout.use_fast_dropout`).
    """
    model = _build_encoder(spec, vocab_size, pad_token_id)
    return use_fast_dropout(model) if spec.fast_dropout else model


def _build_encoder(spec: EncoderSpec, vocab_size: int | None,
                   pad_token_id: int) -> XLMRobertaForMaskedLM | EncoderForEvaluation:
    if "trust_remote_code" in spec.overrides:
        raise ValueError("encoder.overrides may not set trust_remote_code: it runs code shipped with the checkpoint. "
                         "If you trust that code, set encoder.trust_remote_code: true by name")
    if "attn_implementation" in spec.overrides:  # it is an argument of its own, which the overrides would clash with
        raise ValueError("encoder.overrides may not set attn_implementation: set encoder.attn_implementation")
    path = model_dir(resolve_path(spec.path)) if spec.path is not None else None  # ~ and pkg:// as in the data paths
    if path is not None and path.endswith(".ckpt") and os.path.isfile(path):
        return _from_training_checkpoint(path, spec.overrides)
    if path is not None:
        if looks_local(path) and not os.path.exists(path):
            where = "" if os.path.isabs(path) else f" (relative to the working directory {os.getcwd()!r})"
            raise FileNotFoundError(
                f"encoder.path {path!r} does not exist{where}: point it at a directory written by save_pretrained "
                "(config.json + model.safetensors), or use encoder.preset to start from scratch"
            )
        if os.path.isdir(path) and not os.path.isfile(os.path.join(path, "config.json")):
            found = sorted(f for f in os.listdir(path) if f.endswith(".ckpt"))
            hint = f" It holds checkpoints ({', '.join(found[:3])}): give one of them." if found else ""
            raise FileNotFoundError(f"encoder.path {path!r} is a directory without config.json, so neither a "
                                    "Hugging Face model (written by save_pretrained or veco-export) nor a veco-fit "
                                    f"checkpoint (a .ckpt file, <run>/checkpoints/last.ckpt).{hint}")
        if spec.trust_remote_code:
            log.warning("encoder.trust_remote_code is on: %s may run the model code it ships", path)
        with hub_errors(path, "encoder.path"):
            # the config only (config.json), to check the architecture and the keys before any weights are read
            config = AutoConfig.from_pretrained(path, trust_remote_code=spec.trust_remote_code)
            if spec.overrides:
                check_overrides(spec.overrides, type(config))
            if not xlmr_compatible(config, spec.trust_remote_code):
                log.info("%s is a %s checkpoint: loaded to be evaluated (veco-fit test, predict), not trained",
                         path, config.model_type)
                # an encoder-decoder (mT5, mBART) is scored by its encoder: T5's encoder model where transformers
                # has one, else the whole model's encoder
                seq2seq = getattr(config, "is_encoder_decoder", False)
                auto = AutoModelForTextEncoding if seq2seq and config.model_type in TEXT_ENCODERS else AutoModel
                trunk, info = auto.from_pretrained(path, trust_remote_code=spec.trust_remote_code,
                                                   output_loading_info=True, **spec.overrides)
                check_trunk_loaded(trunk, [*info["missing_keys"], *mismatched_keys(info)], path, "encoder.path")
                if seq2seq and auto is AutoModel:
                    trunk = trunk.get_encoder()
                return EncoderForEvaluation(trunk.eval())
            model, info = AutoModelForMaskedLM.from_pretrained(
                path, attn_implementation=spec.attn_implementation, trust_remote_code=spec.trust_remote_code,
                output_loading_info=True, **spec.overrides
            )
        check_trunk_loaded(model, [*info["missing_keys"], *mismatched_keys(info)], path, "encoder.path")
        head = sorted(k for k in info["missing_keys"] if not k.startswith(model.base_model_prefix + "."))
        if head:  # e.g. a fine-tuned task model: its encoder continues, its masked-LM head is new
            log.warning("%s has no masked-LM head (%d weight(s) newly initialised, %s...): MMLM and TLM start from a "
                        "new head over its encoder", path, len(head), head[0])
        model.train()  # from_pretrained returns eval mode, which Lightning keeps: pre-training needs dropout
        if not isinstance(model, XLMRobertaForMaskedLM):  # RoBERTa, CamemBERT: XLM-R's trunk and head (xlmr_compatible)
            log.info("Loaded %s from %s: trained as XLM-R is, exported as its own class", type(model).__name__, path)
        if vocab_size is not None and vocab_size > model.config.vocab_size:
            log.warning(
                "Tokenizer has %d entries but %s has %d embeddings: resizing the embedding matrix",
                vocab_size, path, model.config.vocab_size,
            )
            model.resize_token_embeddings(vocab_size)
        elif vocab_size is not None and vocab_size < model.config.vocab_size:
            log.warning("Tokenizer has %d entries but %s has %d embeddings: is it the tokenizer this encoder was "
                        "trained with? Another tokenizer's ids select the wrong embeddings, and every score is then "
                        "meaningless; give the encoder's own (an export holds it: data.tokenizer = encoder.path)",
                        vocab_size, path, model.config.vocab_size)
        return model
    if spec.preset is None:
        raise ValueError("Set encoder.preset (tiny, small, base, large, xl) or encoder.path")
    if vocab_size is None:
        raise ValueError(
            "vocab_size is unknown: link it from the datamodule (the CLI does this) or pass vocab_size=len(tokenizer)"
        )
    config = preset_config(
        spec.preset, vocab_size, pad_token_id, spec.max_length,
        attn_implementation=spec.attn_implementation, **spec.overrides,
    )
    return XLMRobertaForMaskedLM(config)


class EncoderForEvaluation(nn.Module):
    """A Hugging Face encoder of another architecture than XLM-R's (multilingual BERT, LaBSE, mDeBERTa) under the
    names the module uses: ``roberta``, the trunk, and no ``lm_head``. The evaluation scores it as it scores the
    package's encoders (its tokenizer's ``[CLS]``/``[SEP]`` delimit the sentences); the pre-training objectives
    need XLM-R's masked-LM head, so it is not trained (:meth:`VecoPretrainModule.setup` says so)."""

    def __init__(self, trunk: PreTrainedModel) -> None:
        super().__init__()
        self.roberta = trunk
        self.lm_head = None
        self.config = trunk.config

    def get_input_embeddings(self) -> nn.Module:
        return self.roberta.get_input_embeddings()


def check_trunk_loaded(model: PreTrainedModel, missing: Iterable[str], encoder: str,
                       option: str = "model.encoder") -> None:
    """Stop when the checkpoint did not give the encoder its weights (``missing``: the keys transformers' loading
    report lists as missing or of other sizes): only a task or masked-LM head, and a pooler the checkpoint did not
    have, may start from random values."""
    missing = [k for k in missing if "pooler." not in k]
    if model.base_model is not model:
        trunk = sorted(k for k in missing if k.startswith(model.base_model_prefix + "."))
    else:  # the trunk's modules sit on the model itself (mT5's task classes: shared, encoder, decoder, qa_outputs)
        trunk_keys = bare_trunk_keys(model.config) if missing else None
        trunk = sorted(k for k in missing if trunk_keys is None or k in trunk_keys)
    if trunk:
        raise ValueError(f"{option} {encoder!r}: {len(trunk)} weight(s) of the {model.config.model_type} encoder are "
                         f"not in the checkpoint, or not of its sizes ({', '.join(trunk[:3])}, ...), so it would start "
                         "from random values; give a checkpoint of the whole encoder (save_pretrained, veco-export)")


def bare_trunk_keys(config: Any) -> set[str] | None:
    """The weight names of ``config``'s bare model (``AutoModel``, built on the meta device: no memory), to tell a
    task class's head from its trunk where both sit at the top level; None when it cannot be built."""
    try:
        with torch.device("meta"):
            return set(AutoModel.from_config(config).state_dict())
    except Exception:  # noqa: BLE001 (a config AutoModel does not map): every missing key counts as the trunk's
        return None


def mismatched_keys(info: dict[str, Any]) -> list[str]:
    """The keys of transformers' loading report whose sizes differ from the model's."""
    return [key for key, *_ in info.get("mismatched_keys", ())]


def xlmr_compatible(config: Any, trust_remote_code: bool = False) -> bool:
    """Whether a checkpoint of ``config`` is an encoder the pre-training module trains (others it only evaluates):
    its masked-LM class has an XLM-R trunk (``roberta``) and head (``lm_head``), as XLM-R, XLM-R XL, RoBERTa and
    CamemBERT have; multilingual BERT and mDeBERTa have not. (Read from the class built on the meta device: no
    memory, no weights.)"""
    with torch.device("meta"):
        try:
            model = AutoModelForMaskedLM.from_config(config, trust_remote_code=trust_remote_code)
        except ValueError:  # no masked-LM class at all (mT5, an encoder-decoder): evaluated only
            return False
    return hasattr(model, "roberta") and hasattr(model, "lm_head")


@contextlib.contextmanager
def hub_errors(path: str, option: str) -> Iterator[None]:
    """Around loading the encoder ``path`` given by config option ``option``: when ``path`` is no local directory (a
    Hub model id), transformers' error for a model the Hub does not have or cannot serve (offline, no network) becomes
    one that names the option and the ways out."""
    if os.path.isdir(path):
        yield
        return
    try:
        yield
    except OSError as err:
        raise FileNotFoundError(
            f"{option} {path!r} is neither a local directory nor loadable from the Hugging Face Hub ({err})"
            + (" HF_HUB_OFFLINE is set: only models already in the local Hub cache load."
               if offline("HF_HUB_OFFLINE") else "")
            + " Download it where there is a network (huggingface-cli download, or save_pretrained) and point "
            f"{option} at that directory, or give a veco-fit checkpoint (.ckpt) or an export"
        ) from err


def _from_training_checkpoint(path: str, overrides: dict[str, Any] | None = None) -> XLMRobertaForMaskedLM:
    """The encoder (with its LM head) of a ``veco-fit`` checkpoint, built from the shape the checkpoint records, with
    ``overrides`` (``encoder.overrides``: a dropout for continued training, say) over the overrides it records."""
    from veco_lightning.checkpointing import check_pretraining_checkpoint, read_checkpoint

    checkpoint = read_checkpoint(path)
    hparams = checkpoint.get("hyper_parameters", {})
    check_pretraining_checkpoint(path, hparams, "read as model.encoder.path")
    saved = hparams.get("encoder") or {}
    saved = saved if isinstance(saved, EncoderSpec) else EncoderSpec(**saved)
    if saved.path is not None and saved.path.endswith(".ckpt"):
        raise ValueError(f"{path} was itself trained from a checkpoint file ({saved.path}): export it with veco-export "
                         "and evaluate the export directory")
    if overrides:
        saved = replace(saved, overrides={**saved.overrides, **overrides})
    if saved.path is not None:
        from veco_lightning.checkpointing import check_recorded_path

        check_recorded_path(path, "encoder.path (the model it continued)", saved.path,
                            "export the checkpoint with veco-export from there and use the export")
    model = _build_encoder(saved, hparams.get("vocab_size"), hparams.get("pad_token_id", 1))
    weights = {k[len("model."):]: v for k, v in checkpoint["state_dict"].items() if k.startswith("model.")}
    if weights["roberta.embeddings.word_embeddings.weight"].shape[0] != model.config.vocab_size:
        model.resize_token_embeddings(weights["roberta.embeddings.word_embeddings.weight"].shape[0])
    model.load_state_dict(weights)
    log.info("Loaded the encoder of %s (%s)", path, saved)
    return model
