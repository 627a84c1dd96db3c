"""Encoder presets and construction.

The encoder is a transformers ``XLMRobertaForMaskedLM``: an ``XLMRobertaModel`` trunk (no pooler) plus the
tied LM head. Holding the stock class means export is a plain ``save_pretrained`` and the result loads with
``AutoModel`` / ``AutoModelForMaskedLM`` (and so with sentence-transformers) without conversion.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from transformers import AutoModelForMaskedLM, XLMRobertaConfig, XLMRobertaForMaskedLM

log = logging.getLogger(__name__)

# Shapes. ``large`` is XLM-R large, the shape VECO and VECO 2.0 large use. ``tiny`` and ``small`` exist for
# tests and CPU runs. Every other XLM-R hyper-parameter (GELU, pre-softmax scaling, learned absolute positions
# with padding offset, layer-norm eps 1e-5) stays at the XLMRobertaConfig defaults.
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
    """

    preset: str | None = "tiny"
    path: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    attn_implementation: str = "sdpa"
    max_length: int = 512


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
        **PRESETS[preset],
    )
    kwargs.update(overrides)
    return XLMRobertaConfig(**kwargs)


def build_encoder(spec: EncoderSpec, vocab_size: int | None = None, pad_token_id: int = 1) -> XLMRobertaForMaskedLM:
    """Build a fresh preset encoder, or load a checkpoint for continued pre-training.

    When the tokenizer has more entries than a loaded checkpoint's embedding matrix, the embeddings are
    resized (new rows initialised as transformers does) and a warning says so.
    """
    if spec.path is not None:
        if os.path.sep in spec.path and not os.path.exists(spec.path):
            raise FileNotFoundError(
                f"encoder.path {spec.path!r} does not exist: point it at a directory written by save_pretrained "
                "(config.json + model.safetensors), or use encoder.preset to start from scratch"
            )
        model = AutoModelForMaskedLM.from_pretrained(
            spec.path, attn_implementation=spec.attn_implementation, **spec.overrides
        )
        if not isinstance(model, XLMRobertaForMaskedLM):
            log.warning("Loaded %s from %s; expected an XLM-R compatible encoder", type(model).__name__, spec.path)
        if vocab_size is not None and vocab_size > model.config.vocab_size:
            log.warning(
                "Tokenizer has %d entries but %s has %d embeddings: resizing the embedding matrix",
                vocab_size, spec.path, model.config.vocab_size,
            )
            model.resize_token_embeddings(vocab_size)
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
