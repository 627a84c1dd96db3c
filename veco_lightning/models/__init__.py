"""Encoders (presets, loading), pooling, the alignment heads and the Hugging Face export."""

from veco_lightning._lazy import lazy_exports

_EXPORTS = {
    "PRESETS": "encoder",
    "EncoderSpec": "encoder",
    "ExportPretrained": "export",
    "SequenceAlignmentHead": "heads",
    "TokenAlignmentHead": "heads",
    "build_encoder": "encoder",
    "export_pretrained": "export",
    "pool_sentences": "pooling",
    "pool_words": "pooling",
    "preset_config": "encoder",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
